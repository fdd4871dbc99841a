package twiliosms_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/internal/specfiles"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

type vector struct {
	ID        string                     `json:"id"`
	URL       string                     `json:"url"`
	Params    map[string]json.RawMessage `json:"params"`
	AuthToken string                     `json:"auth_token"`
	Signature string                     `json:"expected_signature"`
	Valid     bool                       `json:"expect_valid"`
	Body      *string                    `json:"body"`
}

func (v vector) form(t *testing.T) url.Values {
	f := url.Values{}
	for k, raw := range v.Params {
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			f.Add(k, one)
			continue
		}
		var many []string
		if err := json.Unmarshal(raw, &many); err != nil {
			t.Fatalf("vector %s: param %s is neither string nor list: %s", v.ID, k, raw)
		}
		f[k] = many
	}
	return f
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile(specfiles.Path(t, "twilio", "signature-vectors.json"))
	if err != nil {
		t.Skipf("signature vectors unavailable: %v", err)
	}
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatalf("parsing signature vectors: %v", err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("signature vector file holds no vectors")
	}
	return file.Vectors
}

// TestSignatureVectors decides every vector in
// shared/specs/twilio/signature-vectors.json as the file says, including
// repeated keys (which twilio-go alone rejects) and the apostrophe quoted
// as %27 (twilio-node's behaviour, which twilio-go lacks).
func TestSignatureVectors(t *testing.T) {
	for _, vec := range loadVectors(t) {
		t.Run(vec.ID, func(t *testing.T) {
			v, err := twiliosms.NewValidator(vec.AuthToken)
			if err != nil {
				t.Fatal(err)
			}
			if vec.Body != nil {
				err = v.ValidateBody(vec.URL, []byte(*vec.Body), vec.Signature)
			} else {
				err = v.Validate(vec.URL, vec.form(t), vec.Signature)
			}
			switch {
			case vec.Valid && err != nil:
				t.Errorf("want valid, got %v", err)
			case !vec.Valid && !errors.Is(err, twiliosms.ErrInvalidSignature):
				t.Errorf("want ErrInvalidSignature, got %v", err)
			}
			// The same vector through the one-token function.
			if vec.Body == nil {
				err2 := twiliosms.ValidateSignature(vec.AuthToken, vec.URL, vec.form(t), vec.Signature)
				if (err2 == nil) != (err == nil) {
					t.Errorf("ValidateSignature = %v, Validator.Validate = %v", err2, err)
				}
			}
			// A body changed after signing must fail.
			if vec.Valid && vec.Body != nil {
				if err := v.ValidateBody(vec.URL, []byte(*vec.Body+" "), vec.Signature); !errors.Is(err, twiliosms.ErrInvalidSignature) {
					t.Errorf("tampered body: want ErrInvalidSignature, got %v", err)
				}
			}
			// So must a wrong token.
			if vec.Valid {
				w, _ := twiliosms.NewValidator(vec.AuthToken + "x")
				if vec.Body == nil {
					err = w.Validate(vec.URL, vec.form(t), vec.Signature)
				} else {
					err = w.ValidateBody(vec.URL, []byte(*vec.Body), vec.Signature)
				}
				if !errors.Is(err, twiliosms.ErrInvalidSignature) {
					t.Errorf("wrong token: want ErrInvalidSignature, got %v", err)
				}
			}
		})
	}
}

func TestValidatorArguments(t *testing.T) {
	const u = "https://example.com/sms"
	form := url.Values{"Body": {"hi"}}
	sig := twiliotest.Sign("token1", u, form)
	for _, tc := range []struct {
		name   string
		tokens []string
	}{
		{"none", nil},
		{"empty", []string{""}},
		{"spaces", []string{"token1 "}},
		{"second empty", []string{"token1", ""}},
	} {
		if _, err := twiliosms.NewValidator(tc.tokens...); err == nil {
			t.Errorf("NewValidator(%s): want error", tc.name)
		}
	}
	v, err := twiliosms.NewValidator("old", "token1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		url     string
		form    url.Values
		sig     string
		wantErr error // nil: any non-nil error that is not a signature error
		ok      bool
	}{
		{"second token matches", u, form, sig, nil, true},
		{"missing", u, form, "", twiliosms.ErrMissingSignature, false},
		{"garbage", u, form, "not base64!", twiliosms.ErrInvalidSignature, false},
		{"extra param", u, url.Values{"Body": {"hi"}, "X": {"1"}}, sig, twiliosms.ErrInvalidSignature, false},
		{"changed value", u, url.Values{"Body": {"hi!"}}, sig, twiliosms.ErrInvalidSignature, false},
		{"relative URL", "/sms", form, sig, nil, false},
		{"no scheme", "example.com/sms", form, sig, nil, false},
		{"ftp", "ftp://example.com/sms", form, sig, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(tc.url, tc.form, tc.sig)
			switch {
			case tc.ok:
				if err != nil {
					t.Fatalf("want nil, got %v", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("want %v, got %v", tc.wantErr, err)
				}
			default:
				if err == nil || errors.Is(err, twiliosms.ErrInvalidSignature) || errors.Is(err, twiliosms.ErrMissingSignature) {
					t.Fatalf("want a URL error, got %v", err)
				}
			}
		})
	}
}

// TestRepeatedKeys checks that every value of a repeated key counts, in
// any order the client sends them.
func TestRepeatedKeys(t *testing.T) {
	const u = "https://example.com/hook"
	signed := url.Values{"MediaUrl": {"https://b.example/2", "https://a.example/1"}, "Body": {"x"}}
	sig := twiliotest.Sign("tok", u, signed)
	reordered := url.Values{"Body": {"x"}, "MediaUrl": {"https://a.example/1", "https://b.example/2"}}
	if err := twiliosms.ValidateSignature("tok", u, reordered, sig); err != nil {
		t.Fatalf("reordered values: %v", err)
	}
	dropped := url.Values{"Body": {"x"}, "MediaUrl": {"https://b.example/2"}}
	if err := twiliosms.ValidateSignature("tok", u, dropped, sig); !errors.Is(err, twiliosms.ErrInvalidSignature) {
		t.Fatalf("a dropped value must invalidate the signature, got %v", err)
	}
}

// TestValidateBehindTLSProxy sends a signed webhook to a TLS-terminating
// reverse proxy that forwards plain HTTP to the application. The handler
// sees http:// and an internal address, yet validates against the
// configured public https URL.
func TestValidateBehindTLSProxy(t *testing.T) {
	const token = "proxytoken"
	v, err := twiliosms.NewValidator(token)
	if err != nil {
		t.Fatal(err)
	}
	var publicURL string
	var fromRequest error
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			t.Error("application should see plain HTTP")
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := v.ValidateRequest(r, publicURL); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		// What a naive handler would reconstruct from the request.
		fromRequest = v.Validate("http://"+r.Host+r.URL.RequestURI(), r.PostForm, r.Header.Get(twiliosms.SignatureHeader))
		in, err := twiliosms.ParseInbound(r.PostForm)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<Response/><!-- "+in.Body+" -->")
	}))
	defer app.Close()
	target, _ := url.Parse(app.URL)
	proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()
	publicURL = proxy.URL + "/sms/inbound"

	form := twiliotest.InboundForm("+14155550100", "+14155550199", "hello through the proxy")
	status, body, err := twiliotest.Post(t.Context(), proxy.Client(), token, publicURL+"?tenant=a", form)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || !strings.Contains(string(body), "hello through the proxy") {
		t.Fatalf("status %d body %q", status, body)
	}
	if !errors.Is(fromRequest, twiliosms.ErrInvalidSignature) {
		t.Fatalf("validating against the URL the application sees must fail, got %v", fromRequest)
	}

	// A request signed for another URL is refused.
	status, _, err = twiliotest.Post(t.Context(), proxy.Client(), token, proxy.URL+"/other", form)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusNotFound && status != http.StatusForbidden {
		t.Fatalf("foreign URL: status %d", status)
	}
	req, err := twiliotest.NewRequest(t.Context(), token, "https://elsewhere.example/sms/inbound", form)
	if err != nil {
		t.Fatal(err)
	}
	req.URL, _ = url.Parse(publicURL)
	req.Host = req.URL.Host
	status, _, err = twiliotest.Do(proxy.Client(), req)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusForbidden {
		t.Fatalf("signature for another URL: want 403, got %d", status)
	}
}

func TestValidateRequest(t *testing.T) {
	const token, public = "tok", "https://hooks.example.com/twilio"
	v, _ := twiliosms.NewValidator(token)
	form := url.Values{"Body": {"a", "b"}, "From": {"+14155550100"}}

	req, _ := twiliotest.NewRequest(t.Context(), token, public, form)
	req.URL, _ = url.Parse("http://10.0.0.7:8080/twilio")
	if err := v.ValidateRequest(req, public); err != nil {
		t.Fatalf("form request: %v", err)
	}

	req, _ = twiliotest.NewRequest(t.Context(), token, public, form)
	req.Header.Del(twiliosms.SignatureHeader)
	if err := v.ValidateRequest(req, public); !errors.Is(err, twiliosms.ErrMissingSignature) {
		t.Fatalf("want ErrMissingSignature, got %v", err)
	}

	// A JSON webhook signed with bodySHA256.
	body := `{"property": "value", "boolean": true}`
	jsonURL := public + "?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	r := httptest.NewRequest(http.MethodPost, "http://internal/twilio?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(twiliosms.SignatureHeader, twiliotest.Sign(token, jsonURL, nil))
	if err := v.ValidateRequest(r, public); err != nil {
		t.Fatalf("json request: %v", err)
	}
	if rest, _ := io.ReadAll(r.Body); string(rest) != body {
		t.Fatalf("body not restored: %q", rest)
	}
	if err := v.ValidateRequest(nil, public); err == nil {
		t.Fatal("nil request: want error")
	}
}
