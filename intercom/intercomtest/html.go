package intercomtest

import (
	"html"
	"regexp"
	"strings"

	xhtml "golang.org/x/net/html"
)

// htmlTag recognises bodies that are already HTML.
var htmlTag = regexp.MustCompile(`(?i)<(p|br|div|b|i|u|s|strong|em|a|ul|ol|li|h[1-6]|span|img|code|pre|blockquote)[\s>/]`)

// toHTML stores a body the way the REST API shows it: HTML kept as is, plain
// text escaped and wrapped in <p>, line breaks as <br>.
func toHTML(body string) string {
	if body == "" {
		return ""
	}
	if htmlTag.MatchString(body) {
		return body
	}
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = html.EscapeString(l)
	}
	return "<p>" + strings.Join(lines, "<br>") + "</p>"
}

// toText renders an HTML body as plain text, as webhook payloads carry it
// from API 2.15 on: block elements and <br> become line breaks, entities
// are decoded, and links read "label (url)" as in Intercom's
// display_as=plaintext rendering.
func toText(body string) string {
	if body == "" {
		return ""
	}
	var b strings.Builder
	type link struct {
		href  string
		start int
	}
	var links []link
	z := xhtml.NewTokenizer(strings.NewReader(body))
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return strings.TrimSpace(b.String())
		case xhtml.TextToken:
			b.Write(z.Text())
		case xhtml.StartTagToken, xhtml.EndTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) == "a" {
				switch tt {
				case xhtml.StartTagToken:
					href := ""
					for hasAttr {
						var k, v []byte
						k, v, hasAttr = z.TagAttr()
						if string(k) == "href" {
							href = string(v)
						}
					}
					links = append(links, link{href: href, start: b.Len()})
				case xhtml.EndTagToken:
					if n := len(links); n > 0 {
						l := links[n-1]
						links = links[:n-1]
						if label := strings.TrimSpace(b.String()[l.start:]); l.href != "" && label != l.href {
							b.WriteString(" (" + l.href + ")")
						}
					}
				}
				continue
			}
			switch string(name) {
			case "br":
				b.WriteByte('\n')
			case "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre":
				if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
					b.WriteByte('\n')
				}
			}
		}
	}
}
