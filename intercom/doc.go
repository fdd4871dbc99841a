// Package intercom is a small client for the parts of the Intercom REST API
// that an SMS channel needs, plus verification and parsing of Intercom
// webhook notifications.
//
// # Overview
//
// [NewClient] takes an access token and options: the regional base URL
// ([USBaseURL], [EUBaseURL], [AUBaseURL], or a test server), an
// *http.Client, the pinned Intercom-Version ([DefaultVersion], "2.16"), a
// [Limiter], a [RetryPolicy] and a *slog.Logger. Every request sends
// "Authorization: Bearer", "Accept: application/json", the version header
// and, with a body, "Content-Type: application/json".
//
// Contacts: [Client.SearchContactsByPhone], [Client.CreateContact] (which
// turns a 409 "already exists with id=..." into the existing contact) and
// [Client.Contact] (which follows a merged contact's 410 to the canonical
// one). [MergedInto] reads the canonical contact out of a 410
// contact_merged answer to any call; [PreferredContact] picks one of
// several contacts found for a number (a user before a lead, then the most
// recently updated). [Client.SearchContactsByEmail], and
// [Client.MergeContacts] and [Client.MergeContactsSkippingValidation] (a
// lead into a user; [IsInvalidMerge] tells Intercom's refusal).
// Conversations: [Client.CreateConversation] (answers with the first
// message and its conversation id), [Client.ReplyAsContact],
// [Client.AddNote], [Client.Assign], [Client.Open], [Client.TagConversation],
// [Client.Conversation] and [Client.SearchConversationsByContact] (a
// contact's conversations created since a given time, newest first).
// Request and response shapes follow the Intercom OpenAPI description of
// version 2.16; ids that Intercom sends as JSON numbers or strings are both
// accepted and exposed as strings.
//
// Contact updates: [Client.UpdateContact] (custom attributes, which must
// exist in the workspace), [Client.TagContact], [Client.UntagContact] (both
// follow a merged contact's 410 like Contact) and [Client.CreateTag] (a
// tag's id by its name).
//
// # Budget
//
// Intercom limits requests per app and workspace in 10-second windows and
// answers 429 beyond the limit. The client keeps inside it in two ways.
//
// First, every request (retries included) waits on a [Limiter]. The default
// is NewWindowLimiter([DefaultLimit], [DefaultWindow]): a sliding window
// that admits at most 83 requests in any 10 seconds, not merely on average. A process that
// runs several clients against one workspace should give them one shared
// limiter with [WithLimiter]. A caller that paces work itself waits on the
// limiter and passes [ContextWithAdmission] so that the client does not
// charge the same call twice.
//
// Second, the client obeys what Intercom says about the shared budget, so
// that several processes using one workspace back off together: when an
// answer carries X-RateLimit-Remaining: 0, further requests are held until
// X-RateLimit-Reset; a 429 holds them until the reset (or Retry-After), and
// the request is then retried.
//
// Transient failures (408, 429, 5xx, timeouts, connection errors) are
// retried with exponential back-off (github.com/cenkalti/backoff/v4),
// bounded by [RetryPolicy], and never sooner than an answer's Retry-After
// asks; a wait that would outlast the call's deadline is not begun. Permanent
// ones (400, 401, 403, 404, 409, 422 and
// other 4xx) are returned at once. Calls that add something each time
// Intercom acts on them (CreateConversation, ReplyAsContact, AddNote) are
// retried only after failures that show Intercom did not act (429, 503, a
// connection that could not be made); after an ambiguous one (500, 502,
// 504, a timeout or a dropped connection: the work may be done and only the
// answer lost) they return the error, which [IsRetryable] still calls
// transient, and leave the decision to the caller, who can look with
// [Client.SearchConversationsByContact] before trying again. CreateContact
// is safe to retry: a second attempt meets a conflict and returns the
// contact the first one created.
//
// Every call stops when its context ends, and its error then matches the
// context's error. If the request was in flight (the transport held a
// connection for it), Intercom may have acted on it: [IsAmbiguous] is true.
// A call that ends before sending its request, because its context ended
// or its deadline (the context's, or [RetryPolicy.MaxElapsed]) would pass
// first while it waited for the limiter or Intercom's rate-limit reset,
// returns an error matching [ErrNotSent], for which IsAmbiguous is false:
// Intercom never saw it.
//
// # Errors
//
// An answer with a status outside 2xx is an [*Error] with the status,
// Intercom's request id and error items, wrapped with the method and path.
// Branch with errors.Is and the sentinels ([ErrNotFound], [ErrConflict],
// [ErrRateLimited], [ErrUnauthorized], [ErrForbidden], [ErrGone]), or reach
// the details with errors.As:
//
//	conv, err := client.Conversation(ctx, id)
//	var apiErr *intercom.Error
//	switch {
//	case errors.Is(err, intercom.ErrNotFound):
//		// the conversation was deleted: forget it
//	case errors.As(err, &apiErr):
//		log.Printf("intercom said %d (request %s)", apiErr.StatusCode, apiErr.RequestID)
//	}
//
// [IsRetryable] tells transient failures from permanent ones, [IsAmbiguous]
// failures after which Intercom may have done the work, and [ErrNotSent]
// calls that gave up before sending. Neither errors nor logs ever contain
// the access token.
//
// # Webhooks
//
// Intercom signs each notification with HMAC-SHA1 of the raw body, keyed by
// the app's client secret, in the X-Hub-Signature header ("sha1=<hex>").
// [VerifySignature] checks it in constant time and accepts several secrets
// for rotation; [Sign] produces signatures for tests. [ParseNotification]
// decodes the notification_event envelope: id, topic, app id, timestamps,
// delivery attempts and, for conversation topics, the conversation with its
// parts. Filter on each part's author and part type rather than on the
// topic: bot replies can arrive as conversation.admin.replied, and a note
// must never reach a customer.
//
// # Concurrency
//
// A [Client] and a [WindowLimiter] are safe for concurrent use by many
// goroutines. A client's rate-limit hold is shared by all its calls.
// [VerifySignature] and [ParseNotification] are pure functions.
package intercom
