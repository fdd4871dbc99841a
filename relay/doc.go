// Package relay gives an Intercom workspace a two-way SMS (and WhatsApp)
// channel through Twilio.
//
// A customer texts one of your Twilio numbers; the text appears in your
// Intercom inbox as a message from that customer, threaded with their earlier
// texts. An agent replies in Intercom; the reply reaches the customer's phone
// as a text. Internal notes, bot replies and the customer's own messages never
// leave by SMS.
//
// # Wiring
//
// Build a [Relay] with [New], mount its three handlers in your own router and
// run its workers:
//
//	r, err := relay.New(relay.Config{
//		Intercom:         ic,                // *intercom.Client
//		Twilio:           tw,                // *twiliosms.Client
//		Store:            memstore.New(),    // or pgstore, redisstore, your own
//		PublicURL:        "https://support.example.com",
//		TwilioAuthTokens: []string{twilioAuthToken},
//		WebhookSecrets:   []string{intercomClientSecret},
//		NoteAuthor:       "123456",          // admin id for internal notes
//	})
//	if err != nil {
//		log.Fatal(err) // a *ConfigError lists every problem
//	}
//	mux.Handle("POST /twilio/messages", r.TwilioHandler())
//	mux.Handle("POST /twilio/status", r.StatusHandler())
//	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
//	go r.Run(ctx) // returns after draining when ctx ends
//
// Point the Twilio number's (or Messaging Service's) incoming-message webhook
// at PublicURL + "/twilio/messages", and subscribe the Intercom app to
// conversation.admin.replied, conversation.admin.closed,
// conversation.admin.opened and conversation.admin.assigned at PublicURL +
// "/intercom/webhooks". The status callback URL is set on every text the
// relay sends.
//
// # What the handlers do
//
// Handlers do only what must happen before the answer: read a bounded body
// (413 past Config.MaxBodyBytes), check method (405) and content type (415),
// verify the signature (401 when missing, 403 when wrong, nothing enqueued),
// parse, enqueue durably with de-duplication by Twilio MessageSid or Intercom
// notification id, and answer: 200 with an empty TwiML <Response/> for
// Twilio, 200 for Intercom, including ping and topics the relay ignores. A
// failure to enqueue answers 503 so that the sender retries. Every call to
// Intercom or Twilio happens in a worker.
//
// # Rules
//
//   - Threading. A thread is (customer address, our number), or
//     (customer address, Messaging Service) for texts to a number of the
//     pool of Config.MessagingServiceSID (pools.go). While its
//     conversation is open, each text is a reply from the contact on it. Once
//     the conversation is closed (learned from conversation.admin.closed), the
//     next text starts a new conversation, or re-opens the old one with
//     Config.Reopen. Config.IdleTimeout starts a new conversation after a
//     quiet spell. A conversation Intercom no longer has is replaced.
//   - Contacts. The store first, then Intercom's search by phone, then a new
//     lead; one phone, one contact. All jobs of one customer run one at a
//     time, in order, across replicas, so concurrent first texts cannot
//     create two contacts or two conversations. Of several contacts a
//     search finds for one number, a user wins over a lead, then the most
//     recently updated (intercom.PreferredContact).
//   - Merges. A contact Intercom answers 410 contact_merged or 404 for is
//     replaced by the contact it was merged into, found without creating a
//     lead (the 410's Link, the contact's own answer, the conversation the
//     call was about, a search by phone), and the call is made again as it
//     (merge.go). The store maps the number to it; a thread keeps its
//     conversation, which Intercom moved to that contact, and takes the
//     new contact with its next text.
//   - Routing. New conversations on a number listed in Config.Routes are
//     assigned to its team or admin and tagged; others use
//     Config.DefaultRoute.
//   - Only what an agent meant the customer to read leaves by SMS: comment
//     parts written by an admin, and the message an admin attaches to
//     closing, re-opening or assigning a conversation, on conversations the
//     relay carries, each once. Never notes, never bot, Fin or operator
//     parts, never the customer's own. Bodies become plain text ([SMSText]);
//     attachments become MMS media where the customer's number takes them,
//     links otherwise. Replies longer than 1600 characters go as several
//     texts.
//   - Texting first. [Relay.Send] texts a customer from code (by number
//     or Intercom contact), honouring opt-outs, the cost guard and the
//     sender's pace, idempotently under a caller's key, and records the
//     text as a note on their contact (a new lead when the number is
//     unknown). An answer within Config.AnswerWindow threads as usual and
//     its conversation gets a note quoting what was sent, and
//     Config.AnswerTagID.
//   - Identity bridge. With Config.Identity, a customer whose contact is a
//     lead without an email, texting by SMS from a phone number, is asked
//     once for their email (cost guard, sender's pace, a note on the
//     conversation); their next text after the prompt went out is the
//     answer, and the number is never asked again. An address of an
//     Intercom user merges the lead into that user (or, when Intercom
//     refuses, a note links them); no user, no address, STOP or START: a
//     note, nothing else. At most one prompt per number per
//     IdentityBridge.Period (identity.go). A text that already gives an
//     address (its only one: "hi it's ann@example.com, my order is late")
//     is the answer, and no prompt is sent, then or later; so is one that
//     gives an address and crossed the prompt. When no user has that
//     address, the note says so and the number is still not asked: the
//     customer has said which address is theirs, a prompt would ask for what
//     they just wrote and get the same address back (or annoy them into
//     ignoring it), and the agents, who have the address in the note and
//     the customer on the conversation, are better placed to make the
//     user, or ask about a typo, than a second automatic text. A text with
//     two different addresses gives none: which one is the customer's is
//     theirs to say, so they are asked as usual.
//   - Paging. Config.Paging pages a conversation's admin (or an on-call
//     number) by SMS, from the number the customer texted, when it is
//     tagged Paging.Tag or a text waits Paging.After, once per waiting
//     spell; the agent's text back becomes a note authored by them
//     (page.go). Agents' phones never become contacts.
//   - The Inbox app. [Relay.CanvasInitializeHandler] and
//     [Relay.CanvasSubmitHandler] serve a Canvas Kit app that lets an
//     agent text the customer of any conversation; the conversation becomes
//     their SMS thread (canvas.go).
//   - WhatsApp's window. A reply Twilio fails with 63016 (the customer
//     last wrote more than 24 hours ago) gets a note in plain words, and,
//     with Config.WhatsAppTemplate, the approved template goes to the
//     customer once a day to invite them back (whatsapp.go).
//   - Cost. Every text's segments and encoding are counted before it is
//     sent; Config.Cost transliterates characters that would force UCS-2
//     and caps the segments of one text, splitting a longer reply or
//     holding it back with a note ([CostGuard]).
//   - Opt-out. STOP-family keywords on SMS (and Twilio's OptOutType, on any
//     channel) mark the address opted out; the text still reaches the
//     conversation, with an internal note. Replies to an opted-out address
//     are not sent, and the agent gets a note saying why. START-family
//     keywords opt back in. A keyword that changes nothing ("Yes" from a
//     customer who never opted out) is just a message. With
//     Config.ContactSync, the change is also set on the customer's Intercom
//     contact (a boolean custom attribute and/or a tag), and so is the time
//     of the last text sent to them, by jobs of their own that never hold
//     up a text; the last state wins, and an update naming a contact merged
//     since goes to the contact it became (contactsync.go).
//   - Failures are visible. A send Twilio refuses for good, and a failed or
//     undelivered status callback, become an internal note with Twilio's
//     error code and its meaning. Transient errors are retried with backoff
//     (by default for about three hours); a job that keeps failing is
//     dead-lettered ([Relay.DeadLetters], [Relay.Replay]), and a dead-lettered
//     reply gets a note. Once a customer's job is dead-lettered, their later
//     jobs run; a replayed one runs after them.
//   - Budget. Every Intercom call of a Relay waits on one limiter: 83
//     requests per sliding 10 seconds unless Config.RateLimit or
//     Config.Limiter says otherwise. Replicas share one budget through
//     pgstore.NewLimiter or redisstore.NewLimiter. An *intercom.Client
//     given to the relay sizes the limiter's transit margin from measured
//     latency, keeps it in step with Intercom's X-RateLimit-Remaining, and
//     backs off on 429 answers, so replicas sharing a workspace slow down
//     together.
//   - Backfill. [Relay.Backfill] imports the texts of Twilio's message
//     log sent in a date range: the customer's as messages from their
//     contact, ours as internal notes (on the contact before their first
//     text of the range), each with its original time in its text, oldest
//     first, where a live text of theirs would go (the thread's
//     conversation while the relay would still post to it, else a new one
//     that becomes the thread's). It is idempotent by MessageSid (a
//     marker per imported text; texts the relay carried have a message
//     record and are skipped, unless a marker says a backfill placed the
//     text and was cut off before its import marker: that one is
//     finished) and resumable by running it again. Batches
//     of 10 texts run as jobs under the customer's key, Concurrency at a
//     time; their Intercom calls wait while the last window's calls reach
//     BackfillShare of the budget or a live call waits (backfill.go,
//     backfill_budget.go). Agents' phones, short codes and alphanumeric
//     senders are left out.
//   - Pick-up. Workers wake as soon as a job is enqueued when the queue
//     can say so (store.Waker: memstore, pgstore, redisstore); polling
//     every Config.PollInterval remains the fallback.
//
// # Delivery semantics
//
// Processing is at least once, with idempotency: deliveries are
// de-duplicated when enqueued, and a job records its progress (a text's SID
// → conversation, a relayed part's id) right after each side effect, on a
// context that survives the job's own cancellation, so that a retried job
// does not repeat it. What is left is the window between a side effect and
// its record: Twilio or Intercom accepted a request but the answer was lost
// (a timeout, a 502 from a proxy, a request cut off in flight by shutdown or
// by a lost lease), the process died, or the store failed to take the
// record. Every side effect a customer or an agent would see twice (a
// conversation started, a customer's text posted, a text sent) goes through
// one step, "look before repeating": a marker is recorded before each
// attempt, and any later attempt that finds it (a retry, a job run again
// after a crash, a replayed dead letter) looks before it acts again: for a
// new conversation, among the contact's conversations created since its
// first attempt, less a minute for clocks (that attempt's time is recorded
// before it; a text imported from history is not searched for since it was
// sent), when the IntercomAPI is a [ConversationFinder], as
// *intercom.Client is; for a
// customer's text on a conversation, among its parts (skipping parts other
// texts are known to have become); for an agent's reply, among the latest
// texts Twilio created for the customer (when the SMSSender is a
// [SentLister], as *twiliosms.Client is); for a note on a contact (a text
// sent first, a backfill's text of ours before the customer's first),
// among the contact's notes made since the text was sent (when the
// IntercomAPI is a [ContactNoteLister], as *intercom.Client is). Neither API offers an idempotency
// key to close the window for good, and the relay prefers a duplicate to a
// loss: when it cannot look (no such capability, or the lookup is refused
// for good), it acts again.
//
// An agent's reply that the webhook handler accepted ends sent, withheld
// with a note (opted out, refused by Twilio) or dead-lettered with a note;
// it is dropped without a note only when its conversation is not one the
// relay carries (a chat, an email), which is logged and counted as
// smsrelay.sms.withheld{reason=not_relay_conversation}. A reply on a young
// conversation the relay has no record of waits while an unsure attempt to
// start a conversation for the same contact, at about that time, is
// unresolved.
//
// Close and re-open notifications are applied in the order of Intercom's
// own time for them (the conversation's updated_at), not in the order they
// arrive: a "closed" that Intercom redelivers after a later "opened" is
// ignored.
//
// A job holds a lease on its customer's queue while it runs and extends it.
// The lease is counted from before the claim that granted it; the job is
// cancelled a margin before the lease could lapse unless an extension was
// confirmed in time, whether the store answered with an error or not at
// all, so that two workers never act for one customer at once.
//
// # Known limits
//
//   - A look can miss what an earlier attempt did: Intercom's search and
//     Twilio's message list can lag behind what was created a moment ago.
//     Then the side effect happens twice (a second conversation, text or
//     SMS), never zero times.
//   - Intercom's conversation search can lag behind a conversation created
//     a moment ago, so a lost answer to starting one may still end in two
//     conversations; the relay then carries the second, and an agent's reply
//     on the first is dead-lettered with a note on that conversation.
//   - A reply that arrives before the relay has recorded a conversation it
//     just started (only when the store fails right then) waits under the
//     conversation's own key and may be overtaken by the agent's next reply;
//     if the record is still missing after a few looks (about 20 seconds
//     with the default RetryBase), the reply is taken for one on a
//     conversation the relay does not carry, and is not sent.
//   - A reply on a conversation that an unsure start may have made waits
//     for the relay's retry horizon (MaxAttempts with backoff, about three
//     hours by default) before it is dead-lettered with a note.
//   - A job cut off by shutdown or a lost lease has used an attempt.
//   - A note on a contact is looked for on the contact the job names:
//     when that contact was merged into another since the earlier
//     attempt, the note is added again, on the contact it became. So is
//     one when the contact holds more notes made since the text was sent
//     than the look reads (10 pages of 50).
//   - Close and re-open notifications within the same second (Intercom's
//     timestamps are whole seconds) are applied in arrival order.
//   - The customer's texts are ordered by when Twilio delivered them to the
//     relay, which is the order Twilio received them except after Twilio
//     retried a delivery.
//   - Merges. The relay learns of a merge from the first call naming the
//     old contact that fails; until then it keeps the old id. After a 404
//     with no conversation to ask (a text sent first), a merged contact is
//     found only by a search by the number, so only when the contact it was
//     merged into has the number; otherwise the stored contact is forgotten
//     and the next attempt may create a lead. Texting a merged contact by
//     id (Text.ContactID) works when Intercom answers 410, not 404.
//   - Identity bridge. The email the customer types is not verified; with
//     IdentityBridge.SkipDuplicateValidation anyone who answers the prompt
//     with a user's address joins that user's contact. An address given
//     unasked is taken for the customer's own, but never merged on alone:
//     a first text naming only someone else's ("please copy
//     accounts@example.com") gets a note linking the number to that
//     contact, whatever SkipDuplicateValidation says. After an address
//     that crossed the prompt, the answer to the prompt is not read,
//     whatever address it gives. WhatsApp customers and opted-out numbers
//     are not asked, and an address they give unasked is not read; an
//     answer to a prompt that went out is read on any channel. A STOP
//     queued behind a prompt waiting for the sender's pace is applied
//     after it: the prompt's re-check cannot see it, and Twilio's own
//     opt-out list (error 21610) stops the prompt. A crash between taking
//     the period's claim and recording it loses the number's prompt (never
//     doubles it). A prompt waiting for the sender's pace (in the queue,
//     not in a worker) holds the customer's later texts behind it. Only
//     the thread the answer came on is moved to the user by the bridge
//     itself; the number's other threads follow through adoptContact.
//   - Backfill. History imported onto a conversation that already holds
//     live texts comes after them, as do batches after a live text that
//     arrived between two batches of the same customer; each part says
//     when it was sent. The budget gate is per process. An imported
//     text's media are attached by URL (Twilio's, as for live texts); a
//     text whose media cannot be listed says how many it had. Opt-outs in the history (a STOP texted in
//     Twilio's console days) are not applied: Twilio's own opt-out list
//     still refuses texts to them (21610, noted). Intercom's created_at on
//     replies is not used: notes could not follow it.
//   - Paging. A page for a WhatsApp thread goes by SMS from the same number
//     without its "whatsapp:" prefix, which must then be able to send SMS.
//     The latest page from one number to one agent's phone is the one a
//     text back acknowledges. A text from a number in Paging.AgentPhones
//     that answers no page in Paging.AckWindow is logged and set aside.
//     A page's wait (Paging.After) is a job waiting in the queue: Stats and
//     the queue-depth metric count it.
//   - Opt-outs in Intercom. The custom attributes must exist in the
//     workspace; an update Intercom refuses is dead-lettered with a log
//     naming the attribute. The contact shows the latest opt-out change on
//     any of our numbers, while the relay keeps one state per number. The
//     last-sent time lags the latest text by up to
//     ContactSync.LastSentEvery.
//
// # Metrics
//
// Given a Config.MeterProvider, the relay records OpenTelemetry metrics:
// smsrelay.webhook.requests (by handler and result: accepted, duplicate,
// ignored, rejected, error), smsrelay.jobs (by kind and outcome:
// completed, retried, deferred, dead_lettered, dead_letter_failed,
// lease_lost, interrupted), smsrelay.job.duration (seconds, by kind),
// smsrelay.sms.sent, smsrelay.sms.withheld (by reason: opted_out, refused,
// over_segment_cap, empty, already_relayed, not_relay_conversation),
// smsrelay.sms.segments (by encoding: GSM-7, UCS-2), smsrelay.identity (the
// identity bridge, by outcome: asked, not_sent, merged, linked, no_user,
// no_email, opted)
// and the gauge smsrelay.queue.jobs (by state: ready, leased, dead). Alert
// on dead letters and on a growing ready count. Call [Relay.Close] when
// discarding a Relay, to stop its gauge being polled.
//
// # Shape
//
// The relay consumes small interfaces it declares itself ([IntercomAPI],
// [SMSSender], [Limiter], and store.Store/store.Queue), so clients can be
// wrapped or replaced and the store is pluggable. Logs go to Config.Logger,
// with phone numbers and email addresses masked; by default the relay is
// silent.
//
// Each rule lives in one file:
//
//   - keys.go: every string the relay stores (markers, de-duplication and
//     ordering keys, job kinds). They are in users' databases and never
//     change; keys_test.go pins them.
//   - apis.go: the one route to each API. New wraps the clients once (every
//     Intercom call through the budget, every Twilio send counted), resolves
//     their optional capabilities, and keeps no other reference to them.
//   - effect.go: the one "look before repeating" step for side effects that
//     can be ambiguous.
//   - rules.go: what may leave by SMS (relayable parts, what they become,
//     opt-out keywords).
//   - notes.go: every internal note agents read.
//   - cost.go: the cost guard every outgoing text is composed through.
//   - pools.go: threading with a Messaging Service pool.
//   - merge.go: contacts merged in Intercom, followed.
//   - whatsapp.go: WhatsApp's 24-hour window and its template.
//   - canvas.go: the Inbox app (Canvas Kit).
//   - page.go: paging agents by SMS and their acknowledgements.
//   - contactsync.go: opt-outs and the last text's time on the contact.
//   - identity.go, email.go: the identity bridge and the email address
//     read from a customer's answer.
//   - backfill.go, backfill_budget.go: importing Twilio's message log
//     ([Relay.Backfill]) and its share of the budget.
//   - proactive.go, pace.go: texts sent first ([Relay.Send]), their record
//     in Intercom and their answers; pacing per sender.
//   - handlers.go: the HTTP layer (bounds, signatures, enqueueing).
//   - inbound.go, outbound.go, status.go: the jobs of a customer's text, an
//     Intercom notification and a Twilio status callback.
//   - logging.go: masking of phone numbers and email addresses in every
//     log record, with the module's one masker (internal/mask) and the
//     logs' policy: bare digit runs, such as Intercom ids, stay.
//   - internal/jobs: the job runner (workers, leases and heartbeat, retry
//     policy, dispatch by kind), which knows nothing of SMS.
//
// Vendor rules live in the vendor's package: Twilio's error classes, limits,
// sender formats and signature header in twiliosms; Intercom's default
// budget, ambiguity of failures and webhook header in intercom.
package relay
