package relay

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// SMSText turns the body of an Intercom conversation part into the plain
// text of a text message. Bodies come as HTML from the REST API and as plain
// text in webhooks from API version 2.15 on; both are handled. Paragraphs and
// headings become blank-line separated blocks, <br> a line break, list items
// lines starting with "- " (or "1. " in ordered lists), links their text
// followed by the URL in parentheses, images their URL; entities are
// decoded, and scripts and styles dropped.
func SMSText(body string) string {
	if !looksLikeHTML(body) {
		return tidyLines(body)
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return tidyLines(body) // html.Parse only fails on reader errors
	}
	var w textWriter
	w.node(doc)
	return tidyLines(w.b.String())
}

// looksLikeHTML reports whether s holds markup: a tag Intercom's composer
// writes (<p>, <br>, <a ...>, ...) or a character entity. Webhook bodies are
// plain text from API 2.15 on, and plain text such as "a < b", "<3" or
// "write to <billing@example.com>" must come through untouched.
func looksLikeHTML(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			if knownTagAt(s[i+1:]) {
				return true
			}
		case '&':
			if j := strings.IndexByte(s[i:], ';'); j > 1 && j < 10 && html.UnescapeString(s[i:i+j+1]) != s[i:i+j+1] {
				return true
			}
		}
	}
	return false
}

// htmlTags are the elements that mark a body as HTML.
var htmlTags = map[string]bool{
	"p": true, "br": true, "div": true, "span": true, "a": true, "b": true, "i": true, "u": true, "s": true,
	"em": true, "strong": true, "code": true, "pre": true, "blockquote": true, "ul": true, "ol": true, "li": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "img": true, "hr": true,
	"table": true, "tr": true, "td": true, "th": true,
}

// knownTagAt reports whether s (what follows a '<') starts a known tag:
// an optional '/', a known name, then '>', '/' or white space, with a '>'
// to close it.
func knownTagAt(s string) bool {
	s = strings.TrimPrefix(s, "/")
	n := 0
	for n < len(s) && (isASCIILetter(s[n]) || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	if n == 0 || n == len(s) || !htmlTags[strings.ToLower(s[:n])] {
		return false
	}
	switch s[n] {
	case '>', '/', ' ', '\t', '\n':
		return strings.IndexByte(s[n:], '>') >= 0
	}
	return false
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

type textWriter struct {
	b        strings.Builder
	breaks   int // line breaks owed before the next text
	pre      int // depth inside <pre>
	started  bool
	listNums []int // per open list: next number, or -1 for a bullet list
}

func (w *textWriter) breakLines(n int) {
	if w.started && n > w.breaks {
		w.breaks = n
	}
}

func (w *textWriter) text(s string) {
	if s == "" {
		return
	}
	if w.breaks > 0 {
		w.b.WriteString(strings.Repeat("\n", w.breaks))
		w.breaks = 0
	}
	w.b.WriteString(s)
	w.started = true
}

func (w *textWriter) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		if w.pre > 0 {
			w.text(n.Data)
			return
		}
		w.inlineText(n.Data)
		return
	case html.CommentNode, html.DoctypeNode:
		return
	case html.ElementNode:
	default:
		w.children(n)
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Template:
		return
	case atom.Br:
		if !w.started {
			return
		}
		w.b.WriteString(strings.Repeat("\n", max(w.breaks, 1)))
		w.breaks = 0
		return
	case atom.Img:
		src, alt := attr(n, "src"), attr(n, "alt")
		switch {
		case src != "" && alt != "":
			w.text(alt + " (" + src + ")")
		case src != "":
			w.text(src)
		}
		return
	case atom.A:
		href := attr(n, "href")
		start := w.b.Len()
		w.children(n)
		label := strings.TrimSpace(w.b.String()[start:])
		if href != "" && !strings.HasPrefix(href, "#") && label != href && "mailto:"+label != href && "tel:"+label != href {
			if label == "" {
				w.text(href)
			} else {
				w.text(" (" + href + ")")
			}
		}
		return
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Table, atom.Hr:
		w.breakLines(2)
		w.children(n)
		w.breakLines(2)
		return
	case atom.Pre:
		w.breakLines(2)
		w.pre++
		w.children(n)
		w.pre--
		w.breakLines(2)
		return
	case atom.Ul, atom.Ol:
		num := -1
		if n.DataAtom == atom.Ol {
			num = 1
			if s, err := strconv.Atoi(attr(n, "start")); err == nil {
				num = s
			}
		}
		gap := 2 // a top-level list is a block of its own
		if len(w.listNums) > 0 {
			gap = 1 // a nested one continues its item
		}
		w.breakLines(gap)
		w.listNums = append(w.listNums, num)
		w.children(n)
		w.listNums = w.listNums[:len(w.listNums)-1]
		w.breakLines(gap)
		return
	case atom.Li:
		w.breakLines(1)
		indent := ""
		if d := len(w.listNums); d > 1 {
			indent = strings.Repeat("  ", d-1)
		}
		marker := "- "
		if d := len(w.listNums); d > 0 && w.listNums[d-1] >= 0 {
			marker = strconv.Itoa(w.listNums[d-1]) + ". "
			w.listNums[d-1]++
		}
		w.text(indent + marker)
		w.children(n)
		w.breakLines(1)
		return
	case atom.Div, atom.Tr, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Dd, atom.Dt:
		w.breakLines(1)
		w.children(n)
		w.breakLines(1)
		return
	case atom.Td, atom.Th:
		if w.started && w.breaks == 0 {
			w.b.WriteString(" ")
		}
		w.children(n)
		return
	}
	w.children(n)
}

func (w *textWriter) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
}

// inlineText writes text outside <pre>, with runs of white space folded.
func (w *textWriter) inlineText(s string) {
	folded := strings.Join(strings.Fields(s), " ")
	if folded == "" {
		if s != "" && w.started && w.breaks == 0 && !endsWithSpace(w.b.String()) {
			w.b.WriteString(" ")
		}
		return
	}
	if startsWithSpace(s) && w.started && w.breaks == 0 && !endsWithSpace(w.b.String()) {
		folded = " " + folded
	}
	if endsWithSpace(s) {
		folded += " "
	}
	w.text(folded)
}

func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

func endsWithSpace(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsSpace(r)
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return strings.TrimSpace(a.Val)
		}
	}
	return ""
}

// tidyLines trims trailing white space from every line, turns non-breaking
// spaces into spaces, keeps at most one blank line in a row, and trims the
// whole.
func tidyLines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\u00a0", " ")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
