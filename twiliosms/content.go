package twiliosms

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// contentSIDPattern is a Content Template SID: "HX" and 32 hex digits.
var contentSIDPattern = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)

// ValidContentSID reports what is wrong with sid as a Content Template SID
// ("HX" followed by 32 hex digits), or nil. Approved templates are the only
// messages that reach a WhatsApp user outside the 24-hour customer-service
// window (error [CodeOutsideWindow] otherwise).
func ValidContentSID(sid string) error {
	if contentSIDPattern.MatchString(sid) {
		return nil
	}
	return fmt.Errorf("twiliosms: content SID %q must be \"HX\" followed by 32 hex digits", sid)
}

// contentVariables encodes template variables as Twilio's ContentVariables
// parameter takes them: a JSON object of strings.
func contentVariables(v map[string]string) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
