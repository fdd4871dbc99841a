// Package intercomtest provides a fake Intercom REST API and webhook sender
// for tests: an httptest server holding contacts and conversations in
// memory, answering with the shapes and status codes of Intercom API 2.16,
// and helpers that play the agent by posting signed webhook notifications.
//
// Point a client at [Server.URL] with [Server.Token]; nothing leaves
// 127.0.0.1.
//
//	s := intercomtest.NewServer()
//	defer s.Close()
//	client, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL))
//
// # Endpoints
//
// The server implements the operations a two-way SMS channel needs, with the
// real request and response bodies (checked against Intercom's OpenAPI
// description by this package's tests):
//
//   - POST /contacts/search: filters on phone, formatted_phone, role, email,
//     name, external_id and id with the string operators (=, !=, IN, NIN, ~,
//     !~, ^, $), AND/OR groups nested two levels deep, cursor pagination.
//     Merged contacts are never found, and [WithSearchLag] hides new contacts
//     for a while, like the real search index.
//   - POST /contacts: 409 conflict "A contact matching those details already
//     exists with id=..." when the phone, email or external id is taken.
//   - GET /contacts/{id}: 404, or 410 contact_merged with
//     Link: </contacts/{canonical}>; rel="canonical" after [Server.MergeContact]
//     (or 404, with [WithMergedContactStatus]). Other calls naming a merged
//     contact answer 404 "User Not Found". Contacts carry updated_at
//     (Contact.UpdatedAt); [Server.AddContactSharingPhone] lets several
//     contacts share one number, as real workspaces do.
//   - POST /contacts/merge: merges a lead into a user (skip_duplicate_validation
//     honoured); 400 invalid_merge when they share no email or phone, 400
//     when from is not a lead or into not a user, 404 for an unknown or
//     merged id.
//   - POST /conversations: answers with a user_message carrying
//     conversation_id; 404 "User Not Found" for an unknown contact.
//   - POST /conversations/{id}/reply: contact replies (a reply on a closed
//     conversation reopens it, with an "open" part) and admin comments and
//     notes; bodies are stored as HTML ("<p>...</p>").
//   - POST /conversations/{id}/parts: assignment, open, close, snoozed.
//   - POST /conversations/{id}/tags: tags made with [Server.AddTag].
//   - GET /conversations/{id}: the full conversation; display_as=plaintext.
//   - POST /conversations/search: filters on id, state, open, read,
//     contact_ids, tag_ids, created_at, updated_at, waiting_since,
//     snoozed_until, admin_assignee_id, team_assignee_id and source.type,
//     .id, .delivered_as, .subject, .author.id, .author.type, .author.name
//     and .author.email, with the operators each type accepts (dates =, <,
//     >, read strictly; integers also !=, <=, >=, IN, NIN; dates and
//     integers as JSON numbers or digit strings), the same groups and
//     pagination (20 per page unless asked, at most 150). It answers a
//     conversation.list of REST-rendered conversations (HTML bodies, no
//     parts) in creation order. [WithSearchLag] hides new conversations too.
//   - POST /contacts/{id}/notes: notes on a contact ([Server.ContactNotes]).
//     GET /contacts/{id}/notes lists them newest first, numbered by page
//     (page and per_page, as Intercom's SDKs send them; 15 per page unless
//     asked, at most 50). Both answer 404 for an unknown or merged contact,
//     the one error the description lists for them.
//   - PUT /contacts/{id} with custom_attributes: only attributes declared with
//     [WithDataAttributes] or [Server.AddDataAttribute], with values of their
//     type, else 400 parameter_invalid "Custom attribute '...' does not
//     exist" (an assumption: the description lists no error for it);
//     [Server.ContactAttributes]. POST /contacts/{id}/tags and DELETE
//     /contacts/{id}/tags/{tag_id} ([Server.ContactTags]); POST /tags with
//     a name finds or creates a tag. The three contact endpoints answer 404
//     for an unknown contact and 410 contact_merged with a Link for a
//     merged one, as GET does.
//
// It also plays the Inbox for a Canvas Kit app: [Server.CanvasInitialize]
// and [Server.CanvasSubmit] post initialize and submit requests for a
// conversation and its contact, signed with X-Body-Signature, and return
// the canvas the app answered with.
//
// Unknown and deleted conversations ([Server.DeleteConversation]) get 404.
// Every error is an Intercom error.list.
//
// # Authentication, versions and the budget
//
// Requests without "Authorization: Bearer <token>" get 401 unauthorized.
// An Intercom-Version outside 1.0-2.16 gets 400, an Accept header that
// excludes JSON gets 406. Authenticated requests share a budget, by default
// 83 per sliding 10 s window ([WithBudget]); beyond it the answer is 429
// rate_limit_exceeded, "Exceeded rate limit of 83 in 10_seconds", and every
// authenticated answer carries X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset, with a Date header on the same clock as the reset, so
// that a client whose clock differs from the server's can measure the reset
// against Date. [Server.RateLimited] counts the 429s.
//
// # Faults and the request record
//
// [Server.Fail] injects failures into matching requests: a status with an
// error.list body, latency, an answer that never comes ([Fault.Hang]), a
// dropped connection, for a number of requests or for all. With
// [Fault.Commit] the request takes effect as soon as it arrives and only the
// answer is lost, wrong or late: Fault{Commit: true, Latency: d} applies a
// request and answers d later, so a client that gives up meanwhile leaves
// the work done. [Server.Requests] returns every request received, as it
// arrived.
//
// # Playing the agent
//
// [Server.AdminReply], [Server.AdminNote], [Server.BotReply],
// [Server.CloseConversation] and [Server.OpenConversation] change a stored
// conversation as an agent (or Fin) would in the inbox and post the matching
// notification to a webhook URL: conversation.admin.replied,
// conversation.admin.noted, conversation.admin.replied and
// conversation.operator.replied (a bot reply arrives on both, as it does
// from Intercom), conversation.admin.closed, conversation.admin.opened.
// Notifications have the real envelope (type notification_event, app_id,
// id notif_..., topic, delivery_attempts, first_sent_at, created_at, data)
// and carry the conversation with the new part only, bodies in plain text
// (API 2.15+). They are signed like Intercom signs them: X-Hub-Signature:
// sha1=HMAC-SHA1(raw body, client secret).
//
// Times are whole UNIX seconds, as Intercom sends them. Every change to a
// conversation, through the helpers or the REST API, stamps its updated_at
// at least one second after the previous change's, so that updated_at
// advances with each change even when tests make several within a second
// (the real service may stamp such changes alike); a helper's notification
// has that stamp as its created_at, and the new part too.
//
// [Server.Ping] and [Server.SendNotification] cover other topics.
// [Server.Redeliver] retries a notification as Intercom does (same id,
// delivery_attempts + 1); [Server.Replay] posts one again byte for byte, so
// that a test can bring an old state change after a newer one.
package intercomtest
