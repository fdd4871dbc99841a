package twiliosms

// Twilio error codes callers branch on. Each is named after its title in
// Twilio's error dictionary (https://www.twilio.com/docs/api/errors);
// [Describe] says what to do about them. Codes from 21000 to 21999 come back
// synchronously, in the answer to a send; codes from 30000 up usually
// arrive later, as the ErrorCode of a status callback ([Status]) for a
// message that was accepted and then failed.
const (
	// CodeTooManyRequests (20429, "Too Many Requests"): Twilio refused
	// the request without processing it; it is safe to retry later.
	CodeTooManyRequests = 20429
	// CodeInvalidTo (21211, "Invalid 'To' Phone Number"): the recipient
	// is not a phone number Twilio can send to.
	CodeInvalidTo = 21211
	// CodeRegionNotEnabled (21408, "Permission to send an SMS has not
	// been enabled for the region indicated by the 'To' number"): the
	// account's geographic permissions exclude the recipient's country.
	CodeRegionNotEnabled = 21408
	// CodeOptedOut (21610, "Attempt to send to unsubscribed recipient"):
	// the recipient replied STOP (or another opt-out keyword) to this
	// sender or Messaging Service; Twilio refuses every message to them
	// until they reply START.
	CodeOptedOut = 21610
	// CodeQueueFull (21611, "This 'From' number has exceeded the maximum
	// number of queued messages"): try again later.
	CodeQueueFull = 21611
	// CodeToUnreachable (21612, "The 'To' phone number is not currently
	// reachable via SMS"): not from this sender, at least.
	CodeToUnreachable = 21612
	// CodeNotMobile (21614, "'To' number is not a valid mobile number"):
	// typically a landline.
	CodeNotMobile = 21614
	// CodeBodyTooLong (21617, "The concatenated message body exceeds the
	// 1600 character limit"): see [MaxBodyLength] and [SplitBody].
	CodeBodyTooLong = 21617
	// CodeLandline (21635): the recipient is a landline in a country
	// where Twilio does not try to deliver SMS to landlines.
	CodeLandline = 21635
	// CodeUnknownHandset (30005, "Unknown destination handset"): the
	// number may not exist.
	CodeUnknownHandset = 30005
	// CodeLandlineOrUnreachableCarrier (30006, "Landline or unreachable
	// carrier").
	CodeLandlineOrUnreachableCarrier = 30006
	// CodeFiltered (30007, "Message filtered"): Twilio or the carrier
	// filtered the message as spam or against policy. It concerns the
	// content or the sender's registration, not the recipient: the same
	// text would be filtered again.
	CodeFiltered = 30007
	// CodeOutsideWindow (63016, "Outside messaging window. For WhatsApp,
	// use a Message Template instead"): a free-form WhatsApp message to
	// someone whose last message is more than 24 hours old; only an
	// approved template reaches them until they write again. (Not in the
	// error list of this package's spec snapshot; title from Twilio's page
	// for the code.)
	CodeOutsideWindow = 63016
)

// RecipientUnreachable reports whether Twilio error code says that messages
// to the recipient cannot go through from this account or sender, whatever
// their text, until something changes outside the sender's program:
// [CodeOptedOut] (until the recipient replies START), [CodeInvalidTo],
// [CodeNotMobile], [CodeLandline], [CodeUnknownHandset] and
// [CodeLandlineOrUnreachableCarrier] (the number cannot receive SMS),
// [CodeToUnreachable] (not from this sender), [CodeRegionNotEnabled] (until
// the account's geographic permissions change) and [CodeOutsideWindow]
// (until the WhatsApp user writes again). It is false for every other
// code, among them [CodeFiltered], which concerns the content, and 30003
// ("Unreachable destination handset"), which may pass later. Use it on the
// code of a failed send ([ErrorCode]) or of a status callback
// ([Status].ErrorCode).
func RecipientUnreachable(code int) bool {
	switch code {
	case CodeOptedOut, CodeInvalidTo, CodeNotMobile, CodeLandline, CodeUnknownHandset,
		CodeLandlineOrUnreachableCarrier, CodeToUnreachable, CodeRegionNotEnabled, CodeOutsideWindow:
		return true
	}
	return false
}

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
	63016: "The WhatsApp user last wrote more than 24 hours ago: only an approved message template reaches them until they write again.",
}

// Describe returns what Twilio error code means, in a sentence fit for an
// agent's note ("The recipient has opted out (replied STOP); ..." for
// 21610), or "" when the code is not one this package knows.
func Describe(code int) string { return errorMeanings[code] }
