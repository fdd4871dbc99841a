package twiliosms

// errorMeanings explains the Twilio error codes an SMS relay meets, in words
// an agent can act on. Titles follow Twilio's public error dictionary
// (https://www.twilio.com/docs/api/errors); the advice is this package's.
var errorMeanings = map[int]string{
	11200: "Twilio could not fetch the webhook URL (no answer within 15 s, a non-2xx answer or a bad Content-Type).",
	11205: "Twilio could not connect to the webhook URL.",
	12300: "The webhook answered with an invalid Content-Type.",
	20003: "Twilio rejected the credentials (account SID or auth token): permission denied.",
	20404: "The requested Twilio resource was not found.",
	20429: "Too many requests to Twilio's API; the request was not processed and is safe to retry later.",
	21211: "The 'To' phone number is invalid.",
	21408: "Sending to this country is not enabled in the Twilio account's geographic permissions.",
	21602: "The message has no body.",
	21603: "The message has no 'From' number.",
	21604: "The message has no 'To' number.",
	21606: "The 'From' number cannot send messages to this destination.",
	21608: "The 'To' number is not verified for this trial account.",
	21610: "The recipient has opted out (replied STOP); messages are blocked until they reply START.",
	21611: "The 'From' number has too many queued messages; try again later.",
	21612: "The 'To' number cannot be reached by SMS or MMS from this sender.",
	21614: "The 'To' number is not a valid mobile number (it may be a landline).",
	21617: "The message is longer than Twilio's limit of 1600 characters.",
	21619: "The message needs a body, a media URL or a content SID.",
	21620: "A media URL is invalid.",
	21623: "The message has more media files than allowed.",
	21635: "The 'To' number is a landline and cannot receive SMS.",
	30001: "The message stayed in Twilio's queue too long and was dropped (queue overflow); try again later.",
	30002: "The Twilio account is suspended.",
	30003: "The recipient's phone is unreachable (switched off or out of coverage).",
	30004: "The message was blocked (by the recipient, their carrier or a block list).",
	30005: "The recipient's number is unknown or no longer exists.",
	30006: "The recipient is a landline or an unreachable carrier.",
	30007: "The carrier filtered the message as spam or against policy.",
	30008: "Delivery failed for an unknown reason.",
	30009: "Part of an inbound multi-part message is missing.",
	30010: "The message price exceeded the maximum price set.",
	30022: "The US A2P 10DLC rate limit was exceeded; the message can be sent later.",
	30032: "The toll-free sender number has not been verified.",
	30034: "The sender is a US number not registered for A2P 10DLC.",
	30035: "The sender's US A2P 10DLC registration is still being configured.",
	30450: "Message delivery was blocked (temporarily).",
}

// Describe returns what Twilio error code means, in a sentence fit for an
// agent's note ("The recipient has opted out (replied STOP); ..." for
// 21610), or "" when the code is not one this package knows.
func Describe(code int) string { return errorMeanings[code] }
