package ingest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

func TestParseSchedule(t *testing.T) {
	got, err := ingest.ParseSchedule(" nppes s3://drop/weekly.zip 24h ;; partd s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h; ")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Request.Dataset != "nppes" || got[0].Request.Source != "s3://drop/weekly.zip" ||
		got[0].Every != 24*time.Hour || got[1].Every != 720*time.Hour {
		t.Fatalf("schedule = %+v", got)
	}
	if len(ingest.PeriodicJobs(got)) != 2 {
		t.Fatal("want one periodic job per entry")
	}
	for _, c := range []struct{ in, want string }{
		{"nppes s3://x", "entry 1"},
		{"nppes s3://x/a.zip 24h; bogus s3://y/b.csv 1h", `entry 2 ("bogus s3://y/b.csv 1h"): dataset: unknown dataset`},
		{"nucc s3://x 10s", "at least 1m"},
		{"nucc s3://x daily", "at least 1m"},
		{"nucc s3://x/n.csv 1h; nucc s3://x/n.csv 2h", "scheduled twice"},
		{"nucc s3://x 1h", "want s3://bucket/key"},
		// An entry cannot give a data year: the file name must carry it.
		{"partd s3://drop/partd.csv 720h", `entry 1 ("partd s3://drop/partd.csv 720h"): dataYear: partd.csv: the file name carries no data year`},
	} {
		_, err := ingest.ParseSchedule(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

// TestParseScheduleRefusesSourceCredentials: a scheduled load is queued as
// a River job whose args hold its source, so a source with user info, a
// query or a fragment is refused, as POST /v1/ingestions refuses it; and
// an error names an entry with its URLs redacted. The source was queued
// as given, and an entry's error quoted it whole, credentials included.
func TestParseScheduleRefusesSourceCredentials(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nucc https://loader:s3cr3t@download.cms.gov/nucc_taxonomy_251.csv 24h", `entry 1 ("nucc https://download.cms.gov/nucc_taxonomy_251.csv 24h"): source: `},
		{"nucc https://download.cms.gov/nucc_taxonomy_251.csv?token=tok123 24h", "must not carry user info, a query or a fragment"},
		{"nucc https://download.cms.gov/nucc_taxonomy_251.csv#sig123 24h", "must not carry user info, a query or a fragment"},
		{"nucc https://loader:s3cr3t@download.cms.gov/nucc_taxonomy_251.csv?X-Amz-Signature=sig123 daily", `entry 1 ("nucc https://download.cms.gov/nucc_taxonomy_251.csv daily"): EVERY`},
		{"nucc s3://loader:s3cr3t@drop/n.csv?token=tok123", `entry 1 ("nucc s3://drop/n.csv"): want DATASET SOURCE EVERY`},
	} {
		_, err := ingest.ParseSchedule(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q) = %v, want an error containing %q", c.in, err, c.want)
			continue
		}
		if x := leaks(err.Error()); x != "" {
			t.Errorf("ParseSchedule(%q) error holds %q: %v", c.in, x, err)
		}
	}
}

// TestScheduleRequestsNormalized: a scheduled load is queued with its
// defaults spelled out, as POST /v1/ingestions queues the same load, so
// that one queued by either (with ifChanged) while the other waits is its
// duplicate.
func TestScheduleRequestsNormalized(t *testing.T) {
	got, err := ingest.ParseSchedule("partd s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h; nppes s3://drop/weekly.zip 24h")
	if err != nil {
		t.Fatal(err)
	}
	want := []ingest.Request{
		{Dataset: "partd", Source: "s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", Mode: "full", DataYear: 2024, MaxRejectRatio: 0.01, IfChanged: true},
		// An archive not named as a weekly file: its member decides the mode.
		{Dataset: "nppes", Source: "s3://drop/weekly.zip", MaxRejectRatio: 0.01, IfChanged: true},
	}
	if len(got) != len(want) {
		t.Fatalf("schedule = %+v", got)
	}
	for i := range want {
		if got[i].Request != want[i] {
			t.Errorf("entry %d queues %+v, want %+v", i+1, got[i].Request, want[i])
		}
	}
}

// TestScheduleMissingDataYearSaysHowToFixIt: an INGEST_SCHEDULE entry has
// no data year to give, so a partb or partd source whose file name
// carries none is refused at startup with what the operator can do about
// it. The message was the one of medsales ingest and POST /v1/ingestions,
// "give it (--data-year, or dataYear in POST /v1/ingestions)": neither
// exists in an entry.
func TestScheduleMissingDataYearSaysHowToFixIt(t *testing.T) {
	for _, in := range []string{
		"partd s3://drop/partd.csv 720h",
		"nppes s3://drop/weekly.zip 24h; partb https://download.cms.gov/physicians.csv 720h",
	} {
		_, err := ingest.ParseSchedule(in)
		if err == nil {
			t.Fatalf("ParseSchedule(%q) accepted a Part B or Part D source without a data year", in)
		}
		msg := err.Error()
		for _, want := range []string{"dataYear: ", "the file name carries no data year (such as _D24_ or _DY24_)",
			"an INGEST_SCHEDULE entry cannot give one", "schedule a file whose name carries it"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ParseSchedule(%q) = %v, want it to say %q", in, err, want)
			}
		}
		for _, unusable := range []string{"--data-year", "POST /v1/ingestions"} {
			if strings.Contains(msg, unusable) {
				t.Errorf("ParseSchedule(%q) = %v: points to %s, which an entry cannot use", in, err, unusable)
			}
		}
	}
}

// TestScheduleConditionalByDefault: a scheduled load is conditional
// (IfChanged: skipped while the source has not changed); "always" after
// EVERY loads it every time, and any other fourth field is refused.
func TestScheduleConditionalByDefault(t *testing.T) {
	got, err := ingest.ParseSchedule("nucc s3://drop/nucc_taxonomy_251.csv 24h; partd s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h always")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Request.IfChanged || got[1].Request.IfChanged {
		t.Errorf("schedule = %+v, want the first entry conditional, the second (always) not", got)
	}
	_, err = ingest.ParseSchedule("nucc s3://drop/nucc_taxonomy_251.csv 24h force")
	if err == nil || !strings.Contains(err.Error(), `entry 1 ("nucc s3://drop/nucc_taxonomy_251.csv 24h force"): the field after EVERY can only be "always"`) {
		t.Errorf("ParseSchedule with a fourth field \"force\" = %v, want it refused", err)
	}
}
