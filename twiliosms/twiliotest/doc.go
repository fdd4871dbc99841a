// Package twiliotest helps test code that uses
// [github.com/smsrelay/smsrelay/twiliosms], or any Twilio client, without
// the network.
//
// # The fake API
//
// [NewServer] starts a fake of Twilio's Messages API on 127.0.0.1. It
// checks HTTP Basic auth and each message as Twilio does (To, From or
// MessagingServiceSid, Body or MediaUrl), answers with Twilio's JSON message
// resource or error object, records accepted messages ([Server.Messages])
// and lists them (GET Messages.json, as twiliosms.Client.Recent reads it).
// [Server.AddHistory] seeds its message log with texts received and sent
// at chosen times; the list filters them by To, From and DateSent (the
// spec's DateSent, DateSent< and DateSent>, on whole days for a date),
// newest first, in pages of PageSize linked by next_page_uri with a
// PageToken, as Twilio's are, and GET .../Messages/{sid}/Media.json lists
// a message's media.
// It injects faults for the next requests ([Server.FailNext],
// [Server.Fail]) or for one recipient ([Server.FailTo]), and latency.
//
// A [Fault] is an error answer by default. With Accept the fake creates the
// message first and then answers late (Latency), never (Hang: the request
// is held until the client gives up) or not at all (Drop: the connection
// is closed), or answers with an error anyway: the cases where Twilio
// created a message and the client never learned, which
// twiliosms.MaybeSent and twiliosms.Client.Recent are for.
//
// # Webhooks
//
// [InboundForm] and [StatusForm] build the parameters Twilio posts for an
// inbound message and a status callback; [Sign], [NewRequest] and [Post]
// sign and send them exactly as Twilio does, with X-Twilio-Signature over
// the public URL and the sorted parameters. [Server.SendStatus] posts a
// callback to the StatusCallback of a message the fake accepted.
package twiliotest
