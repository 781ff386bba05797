package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// consoleName is the Console provider's name.
const consoleName = "console"

// Console is the provider of the embedded shape: instead of sending a
// message it prints one line saying what would have been sent. The
// recipient is masked down to its last two characters and the body is
// shown only when ShowBody is set (a development convenience: bodies are
// personal data), otherwise only its length.
//
// The channel field is named Chan because Channel is the Provider method.
// Use a *Console; it is safe for concurrent use.
type Console struct {
	W        io.Writer
	Chan     Channel
	ShowBody bool
	// Now is the clock for ValidUntil; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
}

// Name returns "console".
func (c *Console) Name() string { return consoleName }

// Channel returns the channel the console stands in for.
func (c *Console) Channel() Channel { return c.Chan }

// Send prints one line for m and returns a receipt with ProviderID
// "console-" + m.ID. An expired message is not printed.
func (c *Console) Send(ctx context.Context, m Message) (Receipt, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, &Error{Provider: consoleName, Retryable: true, Err: err}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := checkValid(consoleName, m, now()); err != nil {
		return Receipt{}, err
	}
	body := fmt.Sprintf("<%d chars>", utf8.RuneCountInString(m.Body))
	if c.ShowBody {
		body = fmt.Sprintf("%q", m.Body)
	}
	line := fmt.Sprintf("notify console: channel=%s id=%s to=%s body=%s\n", c.Chan, m.ID, maskRecipient(m.To), body)
	c.mu.Lock()
	_, err := io.WriteString(c.W, line)
	c.mu.Unlock()
	if err != nil {
		return Receipt{}, &Error{Provider: consoleName, Retryable: true, Err: fmt.Errorf("write: %w", err)}
	}
	return Receipt{Provider: consoleName, ProviderID: consoleName + "-" + m.ID, Status: "accepted"}, nil
}

// maskRecipient keeps only the last two characters of to, behind a fixed
// "***" so the length of the original is not shown either.
func maskRecipient(to string) string {
	r := []rune(to)
	if len(r) <= 2 {
		return strings.Repeat("*", 3)
	}
	return "***" + string(r[len(r)-2:])
}
