// Package twiliosms is the Twilio side of smsrelay: it sends SMS, MMS and
// WhatsApp messages through Twilio's Messages API, and reads and
// authenticates the webhooks Twilio posts for inbound messages and delivery
// status. It also normalises addresses and counts SMS segments.
//
// # Sending
//
// [NewClient] takes the account SID and auth token explicitly. Sending goes
// through github.com/twilio/twilio-go, configured so that it never reads
// TWILIO_* environment variables: credentials, edge ([WithEdge]) and region
// ([WithRegion]) are only what the caller passes. [WithBaseURL] points the
// client at a test server such as the fake in
// [github.com/smsrelay/smsrelay/twiliosms/twiliotest].
//
// [Client.Send] validates the [Message] first, then makes one request. It
// honours its context although twilio-go's calls take none: the context
// travels in the HTTP transport, so cancellation abandons a request in
// flight at once (see [Client.Send] for what that means for the message).
// There is no automatic retry: the caller, typically a job queue, decides.
//
// # The message log
//
// [Client.HistoryPage] reads the account's message log (GET Messages.json)
// by recipient, sender and date range, a page at a time, newest first,
// with a cursor that resumes the listing later, in another process;
// [Client.History] walks every page. [Client.MessageMedia] lists a
// message's media. They are what a backfill of earlier texts reads
// (relay.Backfill).
//
// # Errors
//
// Twilio's own error answers stay *client.TwilioRestError (from
// github.com/twilio/twilio-go/client), wrapped with %w: [ErrorCode] returns
// the code, errors.As gives the HTTP status and message. [IsPermanent] and
// [IsRetryable] are the one place that decides whether a failed send is
// worth another try; [MaybeSent] whether it may have created the message
// all the same (its answer lost), so that [Client.Recent] should be asked
// before sending again. [IsOptedOut] and [RecipientUnreachable] single out
// recipients that cannot be texted, and the Code constants name the codes
// worth branching on. [Describe] says what a code (for example 21610,
// "the recipient has opted out") means, for a note to a human.
//
// Error texts are meant for logs: they never carry a message body, show
// phone numbers masked with [MaskAddress] (the addresses given, and those
// that Twilio's messages or a proxy's page quote) and name a failed
// request by its target without the query. The raw values stay reachable
// through errors.As for the callers that need them.
//
// # Webhooks
//
// Twilio signs each webhook with X-Twilio-Signature over the URL it
// requested and the POST parameters. A [Validator] (several tokens while
// rotating) checks it against the public URL you configured in Twilio,
// never the Host header: behind a TLS-terminating proxy the request reaches
// the application as http:// on an internal host, and only the configured
// URL matches what Twilio signed. [ParseInbound] and [ParseStatus] then turn
// the form into an [Inbound] message or a [Status] callback, refusing
// malformed ones with errors that wrap [ErrInvalidWebhook].
//
// # Addresses
//
// [NormalizeAddress] writes phone numbers in E.164, keeps the "whatsapp:"
// prefix, and leaves short codes and alphanumeric sender ids alone.
// [SupportsMMS] tells whether media can go to an address as MMS, and
// [MaskAddress] hides most of a number for logs.
//
// # Text
//
// [CountSegments] predicts the encoding (GSM-7 or UCS-2) and the number of
// segments Twilio bills for a text; [ToGSM7] replaces typographic
// characters (curly quotes, long dashes, ellipses, non-breaking spaces)
// that would otherwise switch a whole message to UCS-2 and more than double
// its segments. [SplitBody] cuts a text longer than [MaxBodyLength] into
// bodies Twilio accepts, at line, sentence or word breaks.
package twiliosms
