package relay

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// The operator page: one server-rendered page over the operator API, with
// plain HTML forms for its actions. It needs no JavaScript and loads
// nothing from elsewhere.

// pageData is what the page template shows.
type pageData struct {
	SignedIn bool
	Done     string // what the last action did
	Problem  string // what was wrong with the last action
	Queue    QueueFigures
	QueueErr bool
	Budget   BudgetFigures
	Failures []SendFailures
	Dead     []pageDeadLetter
	Kinds    []string
}

type pageDeadLetter struct {
	DeadLetter
	PayloadJSON string
	AgeText     string
}

// doneText says what an action did, for the page; only these show.
var doneText = map[string]string{
	"replayed":      "The dead letter was put back in the queue.",
	"replayed-kind": "The dead letters of that kind were put back in the queue.",
	"discarded":     "The dead letter was discarded; the reason is in the log.",
	"signed-out":    "Signed out.",
}

func (a *admin) page(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	d := pageData{SignedIn: a.allowed(req), Kinds: Kinds()}
	q := req.URL.Query()
	d.Done = doneText[q.Get("done")]
	if p := q.Get("problem"); len(p) <= 200 {
		d.Problem = p // html/template escapes it
	}
	if !d.SignedIn {
		if req.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusUnauthorized)
		}
		pageTemplate.Execute(w, d)
		return
	}
	ctx := req.Context()
	var err error
	if d.Queue, err = a.queueFigures(ctx); err != nil {
		a.r.log.Error("relay: admin: reading the queue", "err", err)
		d.QueueErr = true
	}
	d.Budget = a.budgetFigures()
	d.Failures = a.failureFigures()
	if !d.QueueErr {
		list, err := a.deadLetterList(ctx, "", adminDefaultList)
		if err != nil {
			a.r.log.Error("relay: admin: listing dead letters", "err", err)
			d.QueueErr = true
		}
		for _, dl := range list {
			pj, _ := json.MarshalIndent(dl.Payload, "", "  ")
			d.Dead = append(d.Dead, pageDeadLetter{DeadLetter: dl, PayloadJSON: string(pj),
				AgeText: time.Duration(dl.Age * float64(time.Second)).Round(time.Second).String()})
		}
	}
	pageTemplate.Execute(w, d)
}

// login checks the token typed into the sign-in form and sets the session
// cookie.
func (a *admin) login(w http.ResponseWriter, req *http.Request) {
	req.Body = http.MaxBytesReader(w, req.Body, adminMaxBody)
	if err := req.ParseForm(); err != nil {
		http.Error(w, "could not read the form", http.StatusBadRequest)
		return
	}
	tok := req.PostForm.Get("token")
	fake := req.Clone(req.Context())
	fake.Header = http.Header{"Authorization": {"Bearer " + tok}}
	if !a.allowed(fake) {
		a.r.log.Warn("relay: admin: sign-in with a wrong token")
		seeOther(w, "./?problem=That+token+is+not+the+admin+token.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: adminCookie, Value: a.session(), Path: adminCookiePath(req),
		HttpOnly: true, Secure: req.TLS != nil || req.Header.Get("X-Forwarded-Proto") == "https",
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds()),
	})
	seeOther(w, "./")
}

func (a *admin) logout(w http.ResponseWriter, req *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: adminCookiePath(req), MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	seeOther(w, "./?done=signed-out")
}

// adminCookiePath is the mount point as the browser sees it: the path of
// the sign-in or sign-out form's action, less its last segment. Behind
// http.StripPrefix the handler sees the stripped path, so it takes the
// browser's from RequestURI.
func adminCookiePath(req *http.Request) string {
	p, _, _ := strings.Cut(req.RequestURI, "?")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return "/"
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>smsrelay operator</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
pre { margin: 0; max-width: 40em; white-space: pre-wrap; font-size: 12px; }
.done { background: #e6f4e6; padding: .5em; }
.problem { background: #fbe9e9; padding: .5em; }
form.inline { display: inline; }
</style>
</head>
<body>
<h1>smsrelay operator</h1>
{{with .Done}}<p class="done" role="status">{{.}}</p>{{end}}
{{with .Problem}}<p class="problem" role="alert">{{.}}</p>{{end}}
{{if not .SignedIn}}
<form method="post" action="login">
<label>Admin token <input type="password" name="token" id="token" autocomplete="current-password" required></label>
<button type="submit" id="sign-in">Sign in</button>
</form>
{{else}}
<form method="post" action="logout" class="inline"><button type="submit">Sign out</button></form>

<h2>Queue</h2>
{{if .QueueErr}}<p class="problem">The store did not answer; see the logs.</p>{{else}}
<table id="queue">
<tr><th>Ready</th><th>Leased</th><th>Dead</th><th>Oldest dead letter</th></tr>
<tr><td>{{.Queue.Ready}}</td><td>{{.Queue.Leased}}</td><td id="dead-count">{{.Queue.Dead}}</td><td>{{printf "%.0f" .Queue.OldestDeadAge}} s</td></tr>
</table>
{{if .Queue.Kinds}}
<table id="kinds">
<tr><th>Kind</th><th>Ready</th><th>Leased</th><th>Dead</th><th>Oldest ready</th></tr>
{{range .Queue.Kinds}}<tr><td>{{.Kind}}</td><td>{{.Ready}}</td><td>{{.Leased}}</td><td>{{.Dead}}</td><td>{{printf "%.0f" .OldestReadyAge}} s</td></tr>
{{end}}</table>
{{end}}
{{if .Queue.DeadByKind}}
<table id="dead-by-kind">
<tr><th>Kind</th><th>Dead letters</th><th></th></tr>
{{range $k, $n := .Queue.DeadByKind}}<tr><td>{{$k}}</td><td>{{$n}}</td>
<td><form method="post" action="api/kinds/{{$k}}/replay" class="inline"><button type="submit">Replay all {{$k}}</button></form></td></tr>
{{end}}</table>
{{end}}
{{end}}

<h2>Intercom budget</h2>
<table id="budget">
<tr><th>Limit</th><th>Admitted in the last {{printf "%.0f" .Budget.Window}} s</th><th>Held by Intercom until</th><th>429s seen</th></tr>
<tr><td>{{if .Budget.Limit}}{{.Budget.Limit}} per {{printf "%.0f" .Budget.Window}} s{{else}}unknown{{end}}</td>
<td>{{.Budget.Admitted}}</td><td>{{with .Budget.HeldUntil}}{{.Format "15:04:05 MST"}}{{else}}not held{{end}}</td><td>{{len .Budget.Holds}}</td></tr>
</table>

<h2>Send failures since start, by Twilio code</h2>
{{if .Failures}}
<table id="failures">
<tr><th>Code</th><th>Meaning</th><th>Refused</th><th>Undelivered</th><th>Last</th></tr>
{{range .Failures}}<tr><td>{{.Code}}</td><td>{{.Meaning}}</td><td>{{.Refused}}</td><td>{{.Undelivered}}</td><td>{{.Last.Format "2006-01-02 15:04:05 MST"}}</td></tr>
{{end}}</table>
{{else}}<p>None.</p>{{end}}

<h2>Dead letters (oldest first)</h2>
{{if .Dead}}
<table id="dead-letters">
<tr><th>Job</th><th>Kind</th><th>Attempts</th><th>Age</th><th>Reason</th><th>Payload</th><th>Actions</th></tr>
{{range .Dead}}<tr id="job-{{.ID}}">
<td>{{.ID}}</td><td>{{.Kind}}</td><td>{{.Attempts}}</td><td>{{.AgeText}}</td><td>{{.Reason}}</td><td><pre>{{.PayloadJSON}}</pre></td>
<td>
<form method="post" action="api/dead-letters/{{.ID}}/replay" class="inline"><button type="submit" class="replay">Replay</button></form>
<form method="post" action="api/dead-letters/{{.ID}}/discard">
<input type="text" name="reason" placeholder="why discard it" required maxlength="500">
<button type="submit" class="discard">Discard</button>
</form>
</td></tr>
{{end}}</table>
{{else}}<p id="no-dead-letters">No dead letters.</p>{{end}}
{{end}}
</body>
</html>
`))
