package twiliosms_test

import (
	"context"
	"fmt"
	"log"
	"net/url"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

func ExampleNormalizeAddress() {
	for _, addr := range []string{"(415) 555-0100", "whatsapp:+44 7700 900123", "12345", "ACME"} {
		n, err := twiliosms.NormalizeAddress(addr, "US")
		fmt.Printf("%q → %q %v\n", addr, n, err)
	}
	// Output:
	// "(415) 555-0100" → "+14155550100" <nil>
	// "whatsapp:+44 7700 900123" → "whatsapp:+447700900123" <nil>
	// "12345" → "12345" <nil>
	// "ACME" → "ACME" <nil>
}

func ExampleCountSegments() {
	fmt.Printf("%+v\n", twiliosms.CountSegments("Your order has shipped."))
	fmt.Printf("%+v\n", twiliosms.CountSegments("Price: 10€ {incl. tax}"))
	fmt.Printf("%+v\n", twiliosms.CountSegments("It’s on its way 🚚"))
	// Output:
	// {Encoding:GSM-7 Segments:1 Characters:23 Units:23}
	// {Encoding:GSM-7 Segments:1 Characters:22 Units:25}
	// {Encoding:UCS-2 Segments:1 Characters:17 Units:18}
}

func ExampleToGSM7() {
	s := "We’re “almost” there…"
	fmt.Println(twiliosms.CountSegments(s).Encoding, s)
	g := twiliosms.ToGSM7(s)
	fmt.Println(twiliosms.CountSegments(g).Encoding, g)
	// Output:
	// UCS-2 We’re “almost” there…
	// GSM-7 We're "almost" there...
}

func ExampleValidateSignature() {
	// The URL Twilio was configured with, never one rebuilt from r.Host.
	const publicURL = "https://support.example.com/sms/twilio/messages"
	form := url.Values{"From": {"+14155550100"}, "Body": {"Hi"}}
	sig := twiliotest.Sign("authtoken1", publicURL, form) // what Twilio sends

	fmt.Println(twiliosms.ValidateSignature("authtoken1", publicURL, form, sig))
	fmt.Println(twiliosms.ValidateSignature("authtoken1", "http://10.0.0.7:8080/sms/twilio/messages", form, sig))
	fmt.Println(twiliosms.ValidateSignature("authtoken1", publicURL, form, ""))
	// Output:
	// <nil>
	// twiliosms: invalid X-Twilio-Signature
	// twiliosms: missing X-Twilio-Signature
}

func ExampleValidator() {
	// During rotation, accept both the old and the new token.
	v, err := twiliosms.NewValidator("newtoken", "oldtoken")
	if err != nil {
		log.Fatal(err)
	}
	const publicURL = "https://support.example.com/sms/twilio/status"
	form := twiliotest.StatusForm("SM0123456789abcdef0123456789abcdef", "undelivered", 30007)
	if err := v.Validate(publicURL, form, twiliotest.Sign("oldtoken", publicURL, form)); err != nil {
		log.Fatal(err)
	}
	st, err := twiliosms.ParseStatus(form)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.MessageStatus, st.ErrorCode, twiliosms.Describe(st.ErrorCode))
	// Output:
	// undelivered 30007 The carrier filtered the message as spam or against policy.
}

func ExampleClient_Send() {
	fake := twiliotest.NewServer()
	defer fake.Close()
	c, err := twiliosms.NewClient(fake.AccountSID, fake.AuthToken, twiliosms.WithBaseURL(fake.URL))
	if err != nil {
		log.Fatal(err)
	}
	sent, err := c.Send(context.Background(), twiliosms.Message{
		To:   "+14155550100",
		From: "+14155550199",
		Body: "Hello from support!",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sent.SID[:2], sent.Status, sent.NumSegments)

	// A recipient who replied STOP.
	fake.FailTo("+14155550111", twiliotest.Fault{Code: 21610})
	_, err = c.Send(context.Background(), twiliosms.Message{To: "+14155550111", From: "+14155550199", Body: "Hi"})
	code, _ := twiliosms.ErrorCode(err)
	fmt.Println(code, twiliosms.IsPermanent(err), twiliosms.Describe(code))
	// Output:
	// SM queued 1
	// 21610 true The recipient has opted out (replied STOP); messages are blocked until they reply START.
}

func ExampleParseInbound() {
	form := twiliotest.InboundForm("+14155550100", "+14155550199", "Where is my order?",
		twiliosms.Media{URL: "https://api.twilio.com/2010-04-01/Accounts/AC.../Media/ME1", ContentType: "image/jpeg"})
	in, err := twiliosms.ParseInbound(form)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.From, in.To, in.Body, in.NumMedia, in.Media[0].ContentType)
	// Output:
	// +14155550100 +14155550199 Where is my order? 1 image/jpeg
}

func ExampleMaskAddress() {
	fmt.Println(twiliosms.MaskAddress("+14155550123"))
	fmt.Println(twiliosms.MaskAddress("whatsapp:+447700900123"))
	fmt.Println(twiliosms.MaskAddress("(415) 555-0123"))
	fmt.Println(twiliosms.MaskAddress("12345"))
	// Output:
	// +141******23
	// whatsapp:+447*******23
	// (***) ***-**23
	// *****
}

func ExampleSplitBody() {
	text := "Your parcel left our warehouse today. It should arrive on Friday between 9 and 5."
	parts, err := twiliosms.SplitBody(text, 50)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range parts {
		fmt.Printf("%q\n", p)
	}
	// Output:
	// "Your parcel left our warehouse today."
	// "It should arrive on Friday between 9 and 5."
}

func ExampleMaybeSent() {
	fake := twiliotest.NewServer()
	defer fake.Close()
	c, err := twiliosms.NewClient(fake.AccountSID, fake.AuthToken, twiliosms.WithBaseURL(fake.URL))
	if err != nil {
		log.Fatal(err)
	}
	msg := twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "Your order shipped"}

	fake.FailNext(twiliosms.CodeOptedOut, 0)
	_, err = c.Send(context.Background(), msg)
	fmt.Println("opted out:", twiliosms.IsOptedOut(err), "maybe sent:", twiliosms.MaybeSent(err))

	fake.FailNext(20500, 500)
	_, err = c.Send(context.Background(), msg)
	fmt.Println("server error, maybe sent:", twiliosms.MaybeSent(err))
	// Output:
	// opted out: true maybe sent: false
	// server error, maybe sent: true
}
