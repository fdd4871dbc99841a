package intercomtest

import "testing"

// TestIdsDoNotRepeatAcrossServers: a persistent store remembers ids of
// earlier servers (a conversation part it relayed), so a new server must
// not hand out the same ones.
func TestIdsDoNotRepeatAcrossServers(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 5 {
		s := NewServer()
		c, err := s.AddContact(Contact{Role: "lead", Phone: "+14155550123"})
		if err != nil {
			t.Fatal(err)
		}
		conv, err := s.StartConversation(c.ID, "hello")
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		for _, id := range []string{"contact " + c.ID, "conversation " + conv.ID, "message " + conv.Source.ID} {
			if seen[id] {
				t.Errorf("%s repeats across servers", id)
			}
			seen[id] = true
		}
	}
}
