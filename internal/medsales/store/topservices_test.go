package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TopServices orders a provider's lines by number of services as a
// number (1000.5 before 999, as text would not), then by HCPCS code and
// place of service compared byte by byte, and cuts at its limit inside a
// tie the same way on both engines.
func TestTopServicesTieOrder(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		header, _, _ := strings.Cut(string(sampleFile(t, partBSample)), "\n")
		row := func(code, place, services string) string {
			return fmt.Sprintf("%s,Smith,John,A,M.D.,I,1 Main St,,Springfield,IL,17,62701,1,Metro,US,Internal Medicine,Y,%s,Visit,N,%s,120,%s,100,150,89.56,70.2,71.11\n",
				npiA, code, place, services)
		}
		file := header + "\n" +
			row("99214", "O", "250") + row("J0129", "O", "999") + row("99213", "O", "250") +
			row("99213", "F", "250") + row("G0008", "O", "1000.5") + row("99215", "O", "12") +
			// A count no double holds (the loader takes NUMERIC's 131,072
			// digits): ordering it as a double failed the whole profile
			// on PostgreSQL (QA).
			row("A0001", "O", "1"+strings.Repeat("0", 400)) +
			// Counts a double cannot tell apart tie on both engines, and
			// fall to the code (PostgreSQL's exact order put G0002 first).
			row("G0002", "O", "1.00000000000000002") + row("G0001", "O", "1.00000000000000001")
		mustLoad(t, s, (*store.Store).LoadPartB, "MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", []byte(file), store.LoadInput{})
		for _, tt := range []struct {
			limit int
			want  []string
		}{
			{10, []string{"A0001/O/1" + strings.Repeat("0", 400), "G0008/O/1000.5", "J0129/O/999", "99213/F/250", "99213/O/250", "99214/O/250", "99215/O/12", "G0001/O/1.00000000000000001", "G0002/O/1.00000000000000002"}},
			{3, []string{"A0001/O/1" + strings.Repeat("0", 400), "G0008/O/1000.5", "J0129/O/999"}},
		} {
			got, err := s.TopServices(context.Background(), npiA, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, l := range got {
				lines = append(lines, l.HCPCSCode+"/"+l.PlaceOfService+"/"+l.Services)
			}
			if !slices.Equal(lines, tt.want) {
				t.Errorf("TopServices(limit %d) = %q, want %q", tt.limit, lines, tt.want)
			}
		}
	})
}
