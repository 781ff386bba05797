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
		// Without year=, the file name must carry the data year.
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

// TestScheduleMissingDataYearSaysHowToFixIt: a partb or partd source
// whose file name carries no data year, in an entry without year=, is
// refused at startup with what the operator can do about it in the entry.
// The message was the one of medsales ingest and POST /v1/ingestions,
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
			"give it after EVERY as year=YYYY", "or schedule a file whose name carries it"} {
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
// EVERY loads it every time, and a field after EVERY that is neither it
// nor year= is refused.
func TestScheduleConditionalByDefault(t *testing.T) {
	got, err := ingest.ParseSchedule("nucc s3://drop/nucc_taxonomy_251.csv 24h; partd s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h always")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Request.IfChanged || got[1].Request.IfChanged {
		t.Errorf("schedule = %+v, want the first entry conditional, the second (always) not", got)
	}
	_, err = ingest.ParseSchedule("nucc s3://drop/nucc_taxonomy_251.csv 24h force")
	if err == nil || !strings.Contains(err.Error(), `entry 1 ("nucc s3://drop/nucc_taxonomy_251.csv 24h force"): after EVERY come only "always" (load even when the source has not changed) and "year=YYYY" (the data year); got "force"`) {
		t.Errorf("ParseSchedule with a fourth field \"force\" = %v, want it refused", err)
	}
}

// TestScheduleDataYear: "year=YYYY" after EVERY gives the data year, as
// --data-year and dataYear do. A Part B or Part D file whose name carries
// none can then be scheduled, and an archive holding several years'
// files once per year: the two entries are two periodic jobs. Before,
// an entry could give no year, and such an archive could not be
// scheduled at all (its load failed as ambiguous).
func TestScheduleDataYear(t *testing.T) {
	got, err := ingest.ParseSchedule("partd s3://drop/partd.csv 720h year=2024; " +
		"partd s3://drop/cms-partd.zip 720h year=2022; partd s3://drop/cms-partd.zip 720h always year=2023; " +
		"partd s3://drop/cms-partd.zip 720h")
	if err != nil {
		t.Fatal(err)
	}
	want := []ingest.Request{
		{Dataset: "partd", Source: "s3://drop/partd.csv", Mode: "full", DataYear: 2024, MaxRejectRatio: 0.01, IfChanged: true},
		{Dataset: "partd", Source: "s3://drop/cms-partd.zip", Mode: "full", DataYear: 2022, MaxRejectRatio: 0.01, IfChanged: true},
		{Dataset: "partd", Source: "s3://drop/cms-partd.zip", Mode: "full", DataYear: 2023, MaxRejectRatio: 0.01},
		// No year: the member's name decides (and several years refuse).
		{Dataset: "partd", Source: "s3://drop/cms-partd.zip", Mode: "full", MaxRejectRatio: 0.01, IfChanged: true},
	}
	if len(got) != len(want) {
		t.Fatalf("schedule = %+v", got)
	}
	ids := map[string]bool{}
	for i := range want {
		if got[i].Request != want[i] {
			t.Errorf("entry %d queues %+v, want %+v", i+1, got[i].Request, want[i])
		}
		ids[got[i].ID] = true
	}
	if len(ids) != len(want) {
		t.Errorf("periodic job ids %v: want one per entry", ids)
	}
	// An entry without year= keeps the id it had before entries could
	// give one, so River sees the same periodic job across the upgrade.
	if old, err := ingest.ParseSchedule("partd s3://drop/cms-partd.zip 720h"); err != nil || old[0].ID != got[3].ID || strings.Contains(old[0].ID, "2022") {
		t.Errorf("id without year = %v, %v", old, err)
	}

	for _, c := range []struct{ in, want string }{
		{"partd s3://drop/p.zip 720h year=2023; partd s3://drop/p.zip 24h year=2023", `entry 2 ("partd s3://drop/p.zip 24h year=2023"): the same dataset, source and data year are scheduled twice`},
		{"partd s3://drop/p.zip 720h year=23", `entry 1 ("partd s3://drop/p.zip 720h year=23"): dataYear: must be a year between 2000 and 2100`},
		{"partd s3://drop/p.zip 720h year=", `"year=": the data year must be written year=YYYY, like year=2024`},
		{"partd s3://drop/p.zip 720h year=twenty", `"year=twenty": the data year must be written year=YYYY`},
		{"partd s3://drop/p.zip 720h year=2023 year=2024", `"year=" is given twice`},
		{"partd s3://drop/p.zip 720h always always", `"always" is given twice`},
		{"partd s3://drop/p.zip 720h always year=2023 force", "want DATASET SOURCE EVERY [always] [year=YYYY]"},
		{"nucc s3://drop/nucc_taxonomy_251.csv 24h year=2024", "dataYear: nucc has no data year"},
		{"partd s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv 720h year=2023", "dataYear: MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv: the file name says 2024, the data year given says 2023"},
	} {
		_, err := ingest.ParseSchedule(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}
