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
// and injects errors for the next requests ([Server.FailNext],
// [Server.Fail]) or for one recipient ([Server.FailTo]) and latency.
//
// # Webhooks
//
// [InboundForm] and [StatusForm] build the parameters Twilio posts for an
// inbound message and a status callback; [Sign], [NewRequest] and [Post]
// sign and send them exactly as Twilio does, with X-Twilio-Signature over
// the public URL and the sorted parameters. [Server.SendStatus] posts a
// callback to the StatusCallback of a message the fake accepted.
package twiliotest
