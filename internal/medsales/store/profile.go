package store

import (
	"context"
	"fmt"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// ProfileLimit is how many Part B services and Part D drugs a profile
// lists.
const ProfileLimit = 10

// Profile returns the profile of one NPI (GET /v1/providers/{npi}): what
// Provider returns, with the provider's top ProfileLimit Part B services
// (TopServices), top ProfileLimit Part D drugs (TopDrugs) and Open
// Payments totals (PaymentTotals), all read from one state of the
// database, as Snapshot would. It fails with errs.CodeInvalid for a
// malformed NPI and errs.CodeNotFound when the NPI is not loaded (even if
// claims name it).
//
// On PostgreSQL the whole profile is one round trip (db.DB.ReadAll):
// BEGIN, the LOCK that Snapshot takes, the nine queries and COMMIT in one
// batch, where Provider, TopServices, TopDrugs and PaymentTotals inside a
// Snapshot took twelve, one after the other. The LOCK comes before the
// first query, which takes the snapshot: a swap in progress commits
// first, and a later swap waits for the profile. On SQLite the queries
// run one by one in one read transaction, as in Snapshot.
func (s *Store) Profile(ctx context.Context, npi string) (*medsales.ProviderProfile, error) {
	if err := dataset.CheckNPI([]byte(npi)); err != nil {
		return nil, errs.Invalid("npi", "%v", err)
	}
	out := &medsales.ProviderProfile{ProviderDetail: &medsales.ProviderDetail{},
		TopServices: []medsales.ServiceLine{}, TopDrugs: []medsales.DrugLine{}, PaymentTotals: []medsales.PaymentTotal{}}
	found := false
	reads := append(providerReads(npi, out.ProviderDetail, &found),
		s.topServicesRead(npi, ProfileLimit, &out.TopServices),
		s.topDrugsRead(npi, ProfileLimit, &out.TopDrugs),
		s.paymentTotalsRead(npi, &out.PaymentTotals))
	var err error
	switch {
	case s.q != nil:
		// Inside a Snapshot: its transaction holds the locks already.
		err = runReads(ctx, s.q, reads)
	case s.db.Dialect == db.Postgres:
		err = s.db.ReadAll(ctx, append([]db.Statement{{Name: "lock the profile's tables", SQL: lockSnapshotTables}}, reads...))
	default:
		err = s.db.ReadAll(ctx, reads)
	}
	if err != nil {
		return nil, fmt.Errorf("read provider profile: %w", err)
	}
	if !found {
		return nil, errs.NotFound("provider")
	}
	return out, nil
}
