package intercomtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TopicPartTagCreated is the topic Intercom posts when a conversation is
// tagged: the intercom package's name.
const TopicPartTagCreated = "conversation_part.tag.created"

// TagConversation plays an admin tagging a conversation in the inbox: the
// tag named tagName (created when the workspace has none by that name) is
// applied to the conversation by admin adminID, as POST
// /conversations/{id}/tags does, and a signed conversation_part.tag.created
// notification is posted to target, whose item is the conversation with its
// tags (applied_at and applied_by set) and no parts. It returns the
// notification id (for [Server.Redeliver]) and the receiver's status.
// Tagging a conversation that already has the tag posts the notification
// again and keeps the tag's first applied_at.
func (s *Server) TagConversation(ctx context.Context, target, conversationID, adminID, tagName string) (id string, status int, err error) {
	if err := checkTarget(target); err != nil {
		return "", 0, fmt.Errorf("intercomtest: TagConversation: %w", err)
	}
	if !isDigits(adminID) {
		return "", 0, fmt.Errorf("intercomtest: TagConversation: admin id %q is not an admin id (digits)", adminID)
	}
	if strings.TrimSpace(tagName) == "" {
		return "", 0, fmt.Errorf("intercomtest: TagConversation: tag name is empty")
	}
	tag, err := s.AddTag(tagName)
	if err != nil {
		return "", 0, fmt.Errorf("intercomtest: TagConversation: %w", err)
	}
	s.mu.Lock()
	conv := s.conversations[conversationID]
	if conv == nil {
		s.mu.Unlock()
		return "", 0, fmt.Errorf("intercomtest: TagConversation: no conversation %q", conversationID)
	}
	at := time.Time{}
	for _, t := range conv.Tags {
		if t.ID == tag.ID {
			at = t.AppliedAt
		}
	}
	if at.IsZero() {
		at = stampLocked(conv, time.Now())
		conv.Tags = append(conv.Tags, Tag{ID: tag.ID, Name: tag.Name, AppliedAt: at, AppliedBy: adminID})
	}
	item, err := json.Marshal(s.wireConversation(conv, nil, toText))
	s.mu.Unlock()
	if err != nil {
		return "", 0, fmt.Errorf("intercomtest: TagConversation: %w", err)
	}
	n := s.newNotification(TopicPartTagCreated, item, time.Now())
	status, err = s.deliver(ctx, target, n)
	if err != nil {
		return n.id, status, fmt.Errorf("intercomtest: TagConversation: %w", err)
	}
	return n.id, status, nil
}
