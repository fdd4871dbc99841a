package twiliosms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// TestSignatureAgreesWithTwilioGo holds the signature check to twilio-go's
// client.RequestValidator, which it replaces on the request path: for URLs
// of every shape (schemes, default and other ports, paths, queries,
// escapes, user info, unparsable ones) and random parameters, signatures
// made over every form of the URL a signer might have used, and corrupted
// ones, both must give the same answer.
func TestSignatureAgreesWithTwilioGo(t *testing.T) {
	const token = "12345678901234567890123456789012"
	urls := []string{
		"https://example.com/twilio/messages",
		"https://example.com:443/twilio/messages",
		"https://example.com:8443/twilio/messages?x=1&y=%20z",
		"http://example.com/twilio/messages",
		"http://example.com:80/a/b",
		"http://example.com:8080/a%2Fb?q=%27",
		"https://user:pw@example.com/path",
		"https://[::1]:8443/ipv6",
		"https://[::1]/ipv6",
		"https://example.com/it's",
		"https://example.com/caf%C3%A9?a=b#frag",
		"https://EXAMPLE.com/Upper",
		"https://example.com",
		"https://example.com:/empty-port",
		"%zz://bad",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randomParams := func() map[string]string {
		p := map[string]string{}
		for range rng.IntN(8) {
			k := fmt.Sprintf("K%d", rng.IntN(20))
			p[k] = fmt.Sprintf("v%d %c", rng.IntN(1000), rune('a'+rng.IntN(26)))
		}
		return p
	}
	sign := func(u string, params map[string]string) string {
		m := hmac.New(sha1.New, []byte(token))
		m.Write([]byte(u))
		for _, k := range sortedKeys(params) {
			m.Write([]byte(k + params[k]))
		}
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	tg := client.NewRequestValidator(token)
	ours := newSigner(token)
	checked, accepted := 0, 0
	for _, u := range urls {
		v := variantsOf(u)
		for range 200 {
			params := randomParams()
			sigs := []string{
				sign(u, params), sign(v.withPort, params), sign(v.noPort, params),
				sign(u+"/", params), "", "not base64", sign(u, map[string]string{"other": "x"}),
			}
			good := sign(v.noPort, params)
			sigs = append(sigs, good[:len(good)-2]+"A=", good+" ")
			for _, sig := range sigs {
				want := tg.Validate(u, params, sig)
				got := ours.check(u, sortedKeys(params), params, sig)
				if got != want {
					t.Fatalf("URL %q, params %v, signature %q: ours %v, twilio-go %v", u, params, sig, got, want)
				}
				checked++
				if want {
					accepted++
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no signature was valid: the test compares nothing but refusals")
	}
	t.Logf("%d checks agree (%d accepted)", checked, accepted)
}

func BenchmarkValidate(b *testing.B) {
	b.Run("Validator", func(b *testing.B) { benchmarkValidate(b, false) })
	b.Run("TwilioGo", func(b *testing.B) { benchmarkValidate(b, true) })
}

// benchmarkValidate checks a typical inbound webhook's signature with the
// Validator or, for comparison, with twilio-go's validator alone.
func benchmarkValidate(b *testing.B, twilioGo bool) {
	v, err := NewValidator("12345678901234567890123456789012")
	if err != nil {
		b.Fatal(err)
	}
	form := map[string][]string{
		"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "SmsSid": {"SM0123456789abcdef0123456789abcdef"},
		"SmsMessageSid": {"SM0123456789abcdef0123456789abcdef"}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"},
		"From": {"+14155550100"}, "To": {"+14155550000"}, "Body": {"Where is my order?"}, "NumMedia": {"0"},
		"NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	u := "https://support.example.com/twilio/messages"
	m := hmac.New(sha1.New, []byte("12345678901234567890123456789012"))
	m.Write([]byte(u))
	for _, k := range sortedKeys(foldParams(form)) {
		m.Write([]byte(k + form[k][0]))
	}
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	tg := client.NewRequestValidator("12345678901234567890123456789012")
	b.ReportAllocs()
	for b.Loop() {
		if twilioGo {
			if !tg.Validate(u, foldParams(form), sig) {
				b.Fatal("twilio-go refused the signature")
			}
			continue
		}
		if err := v.Validate(u, form, sig); err != nil {
			b.Fatal(err)
		}
	}
}
