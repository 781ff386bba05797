package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// profilePayments are Open Payments of three program years for Jane:
// 2024 has two manufacturers whose payments total 0.00 (one of them
// amounts that cancel out).
var profilePayments = map[int]string{
	2024: opRow("241", 2024, npiJane, "A", "0.30", "01/02/2024", 1) +
		opRow("242", 2024, npiJane, "A", "-0.10", "01/02/2024", 1) +
		opRow("243", 2024, npiJane, "A", "-0.20", "01/02/2024", 1) +
		opRow("244", 2024, npiJane, "B", "0.00", "01/02/2024", 1) +
		opRow("245", 2024, npiJane, "C", "1500", "03/02/2024", 2),
	2023: opRow("231", 2023, npiJane, "C", "15.5", "01/02/2023", 1) +
		opRow("232", 2023, npiJane, "D", "-5", "01/02/2023", 1),
	2022: opRow("221", 2022, npiJane, "E", "100", "01/02/2022", 1),
}

// janePayments are Jane's payment totals, as the profile lists them.
var janePayments = []medsales.PaymentTotal{
	{Year: 2024, Manufacturer: "C", Amount: "1500.00", Count: 2},
	{Year: 2024, Manufacturer: "A", Amount: "0.00", Count: 3},
	{Year: 2024, Manufacturer: "B", Amount: "0.00", Count: 1},
	{Year: 2023, Manufacturer: "C", Amount: "15.50", Count: 1},
	{Year: 2023, Manufacturer: "D", Amount: "-5.00", Count: 1},
	{Year: 2022, Manufacturer: "E", Amount: "100.00", Count: 1},
}

// loadProfileData loads on s everything a profile shows: NUCC names, the
// NPPES sample and its companion files (Jane: taxonomies in slots 1 and
// 2, the primary in slot 2, an identifier, two practice locations, an
// endpoint; ACME: other names, a foreign location, an endpoint), Part B,
// Part D of 2023 and 2024, and profilePayments.
func loadProfileData(t *testing.T, s *store.Store) {
	t.Helper()
	centroids := embeddedCentroids(t)
	addNUCC(t, s.DB())
	nppesMustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{Centroids: centroids})
	nppesMustLoad(t, s, (*store.Store).LoadNPPESLocations, plSample, nppesSample(t, plSample), store.LoadInput{Centroids: centroids})
	nppesMustLoad(t, s, (*store.Store).LoadNPPESOtherNames, otherSample, nppesSample(t, otherSample), store.LoadInput{})
	nppesMustLoad(t, s, (*store.Store).LoadNPPESEndpoints, endpointFile, nppesSample(t, endpointFile), store.LoadInput{})
	mustLoad(t, s, (*store.Store).LoadPartB, partBSample, sampleFile(t, partBSample), lenient)
	mustLoad(t, s, (*store.Store).LoadPartD, partDSwapped, sampleFile(t, partDSwapped), lenient)
	mustLoad(t, s, (*store.Store).LoadPartD, partDSample, sampleFile(t, partDSample), lenient)
	for _, year := range []int{2022, 2023, 2024} {
		mustLoad(t, s, (*store.Store).LoadOpenPayments, fmt.Sprintf("OP_DTL_GNRL_PGYR%d_P01302026.csv", year),
			[]byte(opHeader+profilePayments[year]), store.LoadInput{})
	}
}

// partsProfile is the profile of npi as GET /v1/providers/{npi} put it
// together before Store.Profile: Provider, TopServices, TopDrugs and
// PaymentTotals in one Snapshot.
func partsProfile(ctx context.Context, s *store.Store, npi string) (*medsales.ProviderProfile, error) {
	out := &medsales.ProviderProfile{}
	err := s.Snapshot(ctx, func(st *store.Store) error {
		var err error
		if out.ProviderDetail, err = st.Provider(ctx, npi); err != nil {
			return err
		}
		if out.TopServices, err = st.TopServices(ctx, npi, store.ProfileLimit); err != nil {
			return err
		}
		if out.TopDrugs, err = st.TopDrugs(ctx, npi, store.ProfileLimit); err != nil {
			return err
		}
		out.PaymentTotals, err = st.PaymentTotals(ctx, npi)
		return err
	})
	return out, err
}

// mustProfile returns s.Profile(npi), failing the test on an error.
func mustProfile(t *testing.T, s *store.Store, npi string) *medsales.ProviderProfile {
	t.Helper()
	p, err := s.Profile(context.Background(), npi)
	if err != nil {
		t.Fatalf("Profile(%s): %v", npi, err)
	}
	return p
}

// Profile reads what Provider, TopServices, TopDrugs and PaymentTotals
// read, alike on both engines (exact decimals included: 0.00 stays 0.00
// on PostgreSQL, whose pipelined reads scan NUMERIC through pgx), and
// encodes to the same JSON; a missing or malformed NPI fails as
// Provider does.
func TestProfile(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		loadProfileData(t, s)
		for _, npi := range []string{npiJane, npiACME, npiDeactivated, npiBob} {
			want, err := partsProfile(ctx, s, npi)
			if err != nil {
				t.Fatal(err)
			}
			got := mustProfile(t, s, npi)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Profile(%s) (-parts +Profile):\n%s", npi, diff)
			}
			wantJSON, _ := json.Marshal(want)
			gotJSON, _ := json.Marshal(got)
			if !bytes.Equal(wantJSON, gotJSON) {
				t.Errorf("Profile(%s) JSON:\n%s\nwant\n%s", npi, gotJSON, wantJSON)
			}
		}

		// What the data above holds, so that the comparison covers it.
		jane := mustProfile(t, s, npiJane)
		if len(jane.Taxonomies) != 2 || jane.Taxonomies[1].Slot != 2 || !jane.Taxonomies[1].Primary || jane.Taxonomies[1].Classification != "Internal Medicine" {
			t.Errorf("Jane's taxonomies: %+v, want the primary in slot 2 with its NUCC names", jane.Taxonomies)
		}
		if len(jane.Identifiers) != 1 || len(jane.PracticeLocations) != 2 || len(jane.Endpoints) != 1 {
			t.Errorf("Jane: %d identifiers, %d locations, %d endpoints; want 1, 2, 1", len(jane.Identifiers), len(jane.PracticeLocations), len(jane.Endpoints))
		}
		if diff := cmp.Diff(partBTop, jane.TopServices); diff != "" {
			t.Errorf("Jane's top services (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(partDTop, jane.TopDrugs); diff != "" {
			t.Errorf("Jane's top drugs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(janePayments, jane.PaymentTotals); diff != "" {
			t.Errorf("Jane's payment totals (-want +got):\n%s", diff)
		}
		if acme := mustProfile(t, s, npiACME); len(acme.OtherNames) != 2 || len(acme.Endpoints) != 1 {
			t.Errorf("ACME: other names %+v, endpoints %+v", acme.OtherNames, acme.Endpoints)
		}
		// Inside a Snapshot, Profile reads in the Snapshot's transaction:
		// a payment committed after the snapshot was taken does not show.
		err := s.Snapshot(ctx, func(st *store.Store) error {
			if _, err := st.PaymentTotals(ctx, npiJane); err != nil { // takes the snapshot
				return err
			}
			if _, err := s.DB().SQL.ExecContext(ctx, `INSERT INTO open_payments (record_id, npi, manufacturer_name, amount, n_payments, program_year)
				VALUES ('late', $1, 'Late', '1.00', 1, 2024)`, npiJane); err != nil {
				return err
			}
			got, err := st.Profile(ctx, npiJane)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(jane, got); diff != "" {
				t.Errorf("Profile in a Snapshot crossed by a payment (-before +Profile):\n%s", diff)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if late := mustProfile(t, s, npiJane); len(late.PaymentTotals) != len(jane.PaymentTotals)+1 {
			t.Errorf("after the late payment: %+v", late.PaymentTotals)
		}

		// No claims: empty lists, not null.
		if bob, _ := json.Marshal(mustProfile(t, s, npiBob)); !strings.Contains(string(bob), `"topServices":[],"topDrugs":[],"paymentTotals":[]`) {
			t.Errorf("Bob's profile: %s", bob)
		}

		// An NPI not loaded, though it has claims, is not found; a
		// malformed one is invalid.
		if _, err := s.Profile(ctx, npiB); !errs.Is(err, errs.CodeNotFound) {
			t.Errorf("Profile(absent) = %v, want not_found", err)
		}
		for _, bad := range []string{"123", "1234567890", "12345678934"} {
			if _, err := s.Profile(ctx, bad); !errs.Is(err, errs.CodeInvalid) {
				t.Errorf("Profile(%s) = %v, want invalid", bad, err)
			}
		}
	})
}

// waitForLockWait waits until a session of d's database waits for a lock
// (PostgreSQL), failing the test after 20 s or if done is closed first.
func waitForLockWait(t *testing.T, q db.Querier, what string, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		err := q.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM pg_locks l JOIN pg_database b ON b.oid = l.database
			WHERE NOT l.granted AND b.datname = current_database()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-done:
			t.Fatalf("%s finished without waiting for a lock", what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not wait for a lock after 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// profileResult is what a Profile started in a goroutine returned.
type profileResult struct {
	p   *medsales.ProviderProfile
	err error
}

// startProfile reads the profile of npi in a goroutine; done is closed
// when the result is in the channel.
func startProfile(s *store.Store, npi string) (<-chan profileResult, <-chan struct{}) {
	res := make(chan profileResult, 1)
	done := make(chan struct{})
	go func() {
		p, err := s.Profile(context.Background(), npi)
		res <- profileResult{p, err}
		close(done)
	}()
	return res, done
}

// A profile read while a load's swap is committing is all of one
// version: on PostgreSQL it waits for the swap and reads the new version
// whole; on SQLite it reads the version before, whole, without waiting.
func TestProfileDuringSwap(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		loadProfileData(t, s)
		before := mustProfile(t, s, npiJane)

		// The reload drops one of Jane's Part B lines; its swap
		// transaction holds the tables until released.
		lines := bytes.SplitAfter(sampleFile(t, partBSample), []byte("\n"))
		reload := bytes.Join(append(lines[:1:1], lines[2:]...), nil)
		swapping, release := make(chan struct{}), make(chan struct{})
		loaded := make(chan error, 1)
		go func() {
			in := lenient
			in.File, in.Reader, in.Rejects = partBSample, bytes.NewReader(reload), &bytes.Buffer{}
			in.Finalize = func(*db.Tx, store.LoadResult) error {
				close(swapping)
				<-release
				return nil
			}
			_, err := s.LoadPartB(ctx, in)
			loaded <- err
		}()
		select {
		case <-swapping:
		case err := <-loaded:
			t.Fatalf("reload Part B: %v before its swap", err)
		}

		res, done := startProfile(s, npiJane)
		if s.DB().Dialect == db.Postgres {
			waitForLockWait(t, s.DB().SQL, "a profile read during a swap", done)
		} else {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("on SQLite a profile read waits for a swap")
			}
		}
		close(release)
		if err := <-loaded; err != nil {
			t.Fatalf("reload Part B: %v", err)
		}
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		after := mustProfile(t, s, npiJane)
		if len(after.TopServices) != len(before.TopServices)-1 {
			t.Fatalf("the reload left %d top services, want %d", len(after.TopServices), len(before.TopServices)-1)
		}
		want, version := after, "after"
		if s.DB().Dialect == db.SQLite {
			want, version = before, "before"
		}
		if diff := cmp.Diff(want, r.p); diff != "" {
			t.Errorf("profile read during the swap, against the version %s it (-want +got):\n%s", version, diff)
		}
	})
}

// On PostgreSQL a profile's snapshot is taken once every table it reads
// is locked: a profile held up behind a lock on one of its tables (here
// NUCC's, by another session) and meanwhile crossed by an NPPES increment
// (which changes Jane, and commits without waiting for the profile) and
// a Part B reload (whose swap of a table the profile has not read yet
// commits) reads the state after both, whole. Had the snapshot been
// taken by the first query, before the wait, the profile would have
// shown Jane before the increment with the Part B lines after the
// reload, a state the database never was in.
func TestProfileSnapshotAfterLocks(t *testing.T) {
	d := dbtest.Postgres(t, claimsSets...)
	s := store.New(d)
	ctx := context.Background()
	loadProfileData(t, s)
	// The connections of the lock and of the look at pg_locks are taken
	// first: the profile's is then the one that last read a profile, so
	// that it has the statements prepared and runs them in one round
	// trip, not behind a first one that prepares them (which would wait
	// for the lock before the snapshot is taken, with or without the
	// profile's LOCK TABLE).
	holder, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	poller, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer poller.Close()
	before := mustProfile(t, s, npiJane)
	hold, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.ExecContext(ctx, "LOCK TABLE nucc_taxonomy IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	res, done := startProfile(s, npiJane)
	waitForLockWait(t, poller, "a profile read behind a lock on nucc_taxonomy", done)

	// Both loads commit while the profile waits: neither needs a lock
	// the waiting profile holds or waits for.
	weekly, centroids := nppesSample(t, npiWeekly), embeddedCentroids(t)
	lines := bytes.SplitAfter(sampleFile(t, partBSample), []byte("\n"))
	reload := bytes.Join(append(lines[:1:1], lines[2:]...), nil)
	loaded := make(chan error, 1)
	go func() {
		_, err := s.LoadNPPES(ctx, store.LoadInput{File: npiWeekly, Reader: bytes.NewReader(weekly), Rejects: &bytes.Buffer{},
			Mode: store.ModeIncrement, Centroids: centroids})
		if err == nil {
			in := lenient
			in.File, in.Reader, in.Rejects = partBSample, bytes.NewReader(reload), &bytes.Buffer{}
			_, err = s.LoadPartB(ctx, in)
		}
		loaded <- err
	}()
	select {
	case err := <-loaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the loads wait for the profile")
	}
	select {
	case <-done:
		t.Fatal("the profile did not wait for the lock on nucc_taxonomy")
	default:
	}
	if err := hold.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	after := mustProfile(t, s, npiJane)
	if after.LastName == before.LastName || len(after.TopServices) != len(before.TopServices)-1 {
		t.Fatalf("the loads did not change Jane (%s, %d services)", after.LastName, len(after.TopServices))
	}
	if diff := cmp.Diff(after, r.p); diff != "" {
		t.Errorf("profile read across the loads, against the state after them (-want +got):\n%s", diff)
	}
}

// Profile costs one round trip to PostgreSQL once its statements are
// prepared on the connection; the profile assembled from Provider,
// TopServices, TopDrugs and PaymentTotals in a Snapshot took one per
// statement, BEGIN, LOCK and COMMIT included.
func TestProfileOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	u := dbtest.PostgresURL(t)
	loader, err := db.Open(ctx, u, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	if _, err := migrate.Up(ctx, loader, claimsSets...); err != nil {
		t.Fatal(err)
	}
	loadProfileData(t, store.New(loader))
	// The reads go through the proxy, on one connection.
	proxied, trips := dbtest.CountRoundTrips(t, u)
	d, err := db.Open(ctx, proxied, db.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := store.New(d)
	// fewest runs fn three times and returns its fewest round trips: a
	// connection idle for over a second is pinged when taken from the
	// pool, one more round trip that a slow test machine may cause.
	fewest := func(fn func() error) int64 {
		t.Helper()
		best := int64(-1)
		for range 3 {
			trips.Reset()
			if err := fn(); err != nil {
				t.Fatal(err)
			}
			if n := trips.Count(); best < 0 || n < best {
				best = n
			}
		}
		return best
	}
	profile := func() error { _, err := s.Profile(ctx, npiJane); return err }
	parts := func() error { _, err := partsProfile(ctx, s, npiJane); return err }
	if n := fewest(profile); n != 1 {
		t.Errorf("Profile: %d round trips, want 1", n)
	}
	n := fewest(parts)
	t.Logf("round trips per profile: Profile 1, Provider+TopServices+TopDrugs+PaymentTotals in a Snapshot %d", n)
	if n < 10 {
		t.Errorf("Provider+TopServices+TopDrugs+PaymentTotals in a Snapshot: %d round trips, want one per statement", n)
	}
}
