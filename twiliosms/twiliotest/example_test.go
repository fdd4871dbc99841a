package twiliotest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

func ExampleNewServer() {
	fake := twiliotest.NewServer()
	defer fake.Close()
	c, err := twiliosms.NewClient(fake.AccountSID, fake.AuthToken, twiliosms.WithBaseURL(fake.URL))
	if err != nil {
		log.Fatal(err)
	}

	fake.FailNext(20429, 0) // the next request is rate limited
	_, err = c.Send(context.Background(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "Hi"})
	fmt.Println("retryable:", twiliosms.IsRetryable(err))

	_, err = c.Send(context.Background(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "Hi"})
	fmt.Println(err)
	for _, m := range fake.Messages() {
		fmt.Println(m.To, m.Body, m.Status)
	}
	// Output:
	// retryable: true
	// <nil>
	// +14155550100 Hi queued
}

func ExamplePost() {
	const token = "authtoken1"
	v, _ := twiliosms.NewValidator(token)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Production code would use its configured public URL here.
		if err := v.ValidateRequest(r, "http://"+r.Host+"/sms"); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		in, err := twiliosms.ParseInbound(r.PostForm)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<Response/>")
		fmt.Println("received:", in.Body, "from", in.From)
	}))
	defer app.Close()

	form := twiliotest.InboundForm("+14155550100", "+14155550199", "Where is my parcel?")
	status, body, err := twiliotest.Post(context.Background(), nil, token, app.URL+"/sms", form)
	fmt.Println(status, string(body), err)
	// Output:
	// received: Where is my parcel? from +14155550100
	// 200 <Response/> <nil>
}

// A message Twilio created although the client never got the answer: Send
// fails, MaybeSent says the message may exist, and Recent finds it.
func ExampleFault() {
	fake := twiliotest.NewServer()
	defer fake.Close()
	c, err := twiliosms.NewClient(fake.AccountSID, fake.AuthToken, twiliosms.WithBaseURL(fake.URL))
	if err != nil {
		log.Fatal(err)
	}
	since := time.Now()

	fake.Fail(twiliotest.Fault{Accept: true, Drop: true})
	_, err = c.Send(context.Background(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "Hi"})
	fmt.Println("failed:", err != nil, "maybe sent:", twiliosms.MaybeSent(err))

	recent, err := c.Recent(context.Background(), "+14155550100", since)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recent {
		fmt.Println("found:", r.Body, r.Status)
	}
	// Output:
	// failed: true maybe sent: true
	// found: Hi queued
}
