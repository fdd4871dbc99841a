package twiliosms

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Headers of the webhook requests Twilio makes.
const (
	// SignatureHeader carries Twilio's signature of the request (see
	// [Validator]).
	SignatureHeader = "X-Twilio-Signature"
	// IdempotencyTokenHeader carries a token Twilio sends with each
	// webhook request; common practice treats a repeated token as a
	// retried delivery. Twilio's documentation read for this package does
	// not promise that, so deduplicate on MessageSid and use the token at
	// most as a hint.
	IdempotencyTokenHeader = "I-Twilio-Idempotency-Token"
)

var (
	// ErrMissingSignature means the request has no X-Twilio-Signature.
	ErrMissingSignature = errors.New("twiliosms: missing X-Twilio-Signature")
	// ErrInvalidSignature means the signature does not match the URL,
	// parameters (or body) and any of the auth tokens: the request did
	// not come from Twilio, was altered, or was checked against a URL
	// other than the one Twilio requested.
	ErrInvalidSignature = errors.New("twiliosms: invalid X-Twilio-Signature")
)

// Validator checks X-Twilio-Signature with one or more auth tokens: while
// a token is being rotated, give it both the primary and the secondary
// token. The comparison is the one of twilio-go's client.RequestValidator
// (HMAC-SHA1, constant time, the URL tried with its default port added and
// with its port removed), computed without that validator's per-request
// string building (see sigcheck.go; a test holds both to the same answers);
// the Validator adds what twilio-go lacks: repeated form keys, and an
// apostrophe in the URL quoted as %27 the way Twilio's other SDKs do. A Validator is safe for concurrent use.
type Validator struct {
	signers []*signer
}

// NewValidator returns a Validator accepting signatures made with any of
// authTokens. It fails without tokens, or with an empty one or one
// surrounded by spaces (a copy-and-paste slip that would reject every
// request).
func NewValidator(authTokens ...string) (*Validator, error) {
	if len(authTokens) == 0 {
		return nil, errors.New("twiliosms: NewValidator needs at least one auth token")
	}
	v := &Validator{}
	for i, t := range authTokens {
		if t == "" {
			return nil, fmt.Errorf("twiliosms: auth token %d is empty", i)
		}
		if strings.TrimSpace(t) != t {
			return nil, fmt.Errorf("twiliosms: auth token %d has leading or trailing spaces", i)
		}
		v.signers = append(v.signers, newSigner(t))
	}
	return v, nil
}

// ValidateSignature checks signature, the X-Twilio-Signature of a request
// Twilio made to fullURL with the POST parameters form, against authToken.
// See [Validator.Validate].
func ValidateSignature(authToken, fullURL string, form url.Values, signature string) error {
	v, err := NewValidator(authToken)
	if err != nil {
		return err
	}
	return v.Validate(fullURL, form, signature)
}

// Validate checks signature, the X-Twilio-Signature of a request Twilio
// made to fullURL with the POST parameters form (r.PostForm, not r.Form:
// query parameters are part of fullURL and are not signed twice).
//
// fullURL must be the exact public URL Twilio was configured with, query
// string included, as Twilio requested it: build it from your configured
// public base URL, never from r.Host or r.URL, which behind a
// TLS-terminating proxy say http:// and an internal host.
//
// Twilio signs the URL followed by every parameter, sorted by name, as
// name+value; a name given several times contributes each distinct value,
// in sorted order. It returns nil, [ErrMissingSignature],
// [ErrInvalidSignature] or an error describing a bad fullURL.
func (v *Validator) Validate(fullURL string, form url.Values, signature string) error {
	if signature == "" {
		return ErrMissingSignature
	}
	if err := checkSignedURL(fullURL); err != nil {
		return err
	}
	params := foldParams(form)
	keys := sortedKeys(params)
	for _, u := range urlVariants(fullURL) {
		for _, s := range v.signers {
			if s.check(u, keys, params, signature) {
				return nil
			}
		}
	}
	return ErrInvalidSignature
}

// ValidateBody checks the signature of a request by its raw body. When
// fullURL carries a bodySHA256 query parameter (Twilio's JSON webhooks),
// the signature covers the URL alone and the body's SHA-256 must equal
// bodySHA256; otherwise the body is read as form parameters and checked
// like [Validator.Validate], repeated keys included.
func (v *Validator) ValidateBody(fullURL string, body []byte, signature string) error {
	if signature == "" {
		return ErrMissingSignature
	}
	if err := checkSignedURL(fullURL); err != nil {
		return err
	}
	u, _ := url.Parse(fullURL) // checked above
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("twiliosms: URL %q has a malformed query: %w", fullURL, err)
	}
	want := q.Get("bodySHA256")
	if want == "" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return fmt.Errorf("%w: body is not form-encoded: %v", ErrInvalidSignature, err)
		}
		return v.Validate(fullURL, form, signature)
	}
	if err := v.Validate(fullURL, nil, signature); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(want))) != 1 {
		return fmt.Errorf("%w: body does not match bodySHA256", ErrInvalidSignature)
	}
	return nil
}

// ValidateRequest checks r's X-Twilio-Signature as sent to publicURL, the
// public URL of this endpoint as configured in Twilio. When publicURL has
// no query string, r's raw query is appended to it; the scheme, host and
// path always come from publicURL, never from r. The body is read as
// needed (form parameters with r.ParseForm, or raw for bodySHA256
// requests, then restored): bound it first with http.MaxBytesReader.
func (v *Validator) ValidateRequest(r *http.Request, publicURL string) error {
	if r == nil {
		return errors.New("twiliosms: ValidateRequest: nil request")
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return ErrMissingSignature
	}
	if err := checkSignedURL(publicURL); err != nil {
		return err
	}
	full := publicURL
	if !strings.Contains(publicURL, "?") && r.URL != nil && r.URL.RawQuery != "" {
		full = publicURL + "?" + r.URL.RawQuery
	}
	if r.URL != nil && r.URL.Query().Has("bodySHA256") {
		if r.Body == nil {
			return v.ValidateBody(full, nil, sig)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return fmt.Errorf("twiliosms: reading request body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return v.ValidateBody(full, body, sig)
	}
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("twiliosms: reading form: %w", err)
	}
	return v.Validate(full, r.PostForm, sig)
}

func checkSignedURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("twiliosms: signed URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("twiliosms: signed URL %q must be the full public http(s) URL Twilio requests", s)
	}
	return nil
}

// foldParams turns form into the map twilio-go's validator signs. A key
// with several values becomes one entry whose value is
// v1+key+v2+key+v3, so that twilio-go's key+value concatenation yields
// key+v1+key+v2+key+v3: each distinct value, sorted, as Twilio signs them.
func foldParams(form url.Values) map[string]string {
	params := make(map[string]string, len(form))
	for k, vs := range form {
		switch len(vs) {
		case 0:
		case 1:
			params[k] = vs[0]
		default:
			vs = slices.Compact(slices.Sorted(slices.Values(vs)))
			params[k] = strings.Join(vs, k)
		}
	}
	return params
}

// urlVariants returns the URLs to try: the URL itself and, when it holds a
// "'", the form with "%27" that Twilio signs (twilio-node applies the same
// quoting; twilio-go does not).
func urlVariants(u string) []string {
	if strings.Contains(u, "'") {
		return []string{u, strings.ReplaceAll(u, "'", "%27")}
	}
	return []string{u}
}
