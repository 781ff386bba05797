package notify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

func TestConsole(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		showBody bool
		msg      notify.Message
		wantLine string
		wantErr  error
	}{
		{
			name:     "body hidden",
			msg:      notify.Message{ID: "m1", To: "+15005550006", Body: "Take 2 pills"},
			wantLine: "notify console: channel=sms id=m1 to=***06 body=<12 chars>\n",
		},
		{
			name:     "body shown quoted on one line",
			showBody: true,
			msg:      notify.Message{ID: "m2", To: "+15005550006", Body: "line1\nline2"},
			wantLine: "notify console: channel=sms id=m2 to=***06 body=\"line1\\nline2\"\n",
		},
		{
			name:     "short recipient fully masked",
			msg:      notify.Message{ID: "m3", To: "ab", Body: "é"},
			wantLine: "notify console: channel=sms id=m3 to=*** body=<1 chars>\n",
		},
		{
			name:    "expired not printed",
			msg:     notify.Message{ID: "m4", To: "+15005550006", Body: "x", ValidUntil: now.Add(-time.Second)},
			wantErr: notify.ErrExpired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := &notify.Console{W: &buf, Chan: notify.SMS, ShowBody: tt.showBody, Now: func() time.Time { return now }}
			rec, err := c.Send(context.Background(), tt.msg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Send error = %v, want %v", err, tt.wantErr)
				}
				if buf.Len() != 0 {
					t.Errorf("printed %q for a refused message", buf.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.wantLine {
				t.Errorf("line = %q, want %q", got, tt.wantLine)
			}
			if !tt.showBody && strings.Contains(buf.String(), tt.msg.Body) {
				t.Error("body printed although ShowBody is false")
			}
			if strings.Contains(buf.String(), tt.msg.To) && len(tt.msg.To) > 2 {
				t.Error("recipient printed unmasked")
			}
			want := notify.Receipt{Provider: "console", ProviderID: "console-" + tt.msg.ID, Status: "accepted"}
			if rec != want {
				t.Errorf("receipt = %+v, want %+v", rec, want)
			}
		})
	}
	c := &notify.Console{Chan: notify.Email}
	if c.Name() != "console" || c.Channel() != notify.Email {
		t.Errorf("Name, Channel = %q, %q", c.Name(), c.Channel())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestConsoleWriteError(t *testing.T) {
	c := &notify.Console{W: failWriter{}, Chan: notify.SMS}
	_, err := c.Send(context.Background(), notify.Message{ID: "m", To: "+15005550006", Body: "b"})
	if err == nil || !notify.IsRetryable(err) {
		t.Errorf("Send to a failing writer = %v, want a retryable error", err)
	}
}
