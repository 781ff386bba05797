package telemetry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/smithy-go/logging"
)

// AWSLogger adapts l to the AWS SDK's logger, so that the SDK's own
// messages (credentials falling back to IMDSv1, retries, …) reach the JSON
// log as warnings or debug records; the SDK's default logger prints
// plain-text lines on the process's standard error, which log pipelines
// cannot parse.
func AWSLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelWarn
		if c == logging.Debug {
			level = slog.LevelDebug
		}
		l.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
	})
}
