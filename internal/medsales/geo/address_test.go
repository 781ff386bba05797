package geo_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

func TestAddressKey(t *testing.T) {
	type addr struct{ line1, line2, city, state, zip string }
	tests := []struct {
		name string
		in   []addr // every spelling must give want
		want string
	}{
		{
			name: "suffix, directional, unit, zip+4",
			in: []addr{
				{"123 North Main Street", "Suite #200", "Jacksonville", "fl", "32204-4736"},
				{"123 N. MAIN ST.", "STE 200", "JACKSONVILLE", "FL", "322044736"},
				{"123  n main   str", "ste. 200", " jacksonville ", "FL", "32204"},
				{"123 North Main Street Suite 200", "", "Jacksonville", "FL", "32204"},
				{"123 N MAIN ST, STE #200", "", "JACKSONVILLE", "FL", "32204"},
			},
			want: "123 N MAIN ST STE 200|JACKSONVILLE|FL|32204",
		},
		{
			name: "pre-directional before a name, suffix",
			in: []addr{
				{"4500 Southwest 8th Street", "", "Miami", "FL", "33155"},
				{"4500 SW 8TH ST", "", "MIAMI", "FL", "331551234"},
				{"4500 S.W. 8th Str.", "", "Miami", "Fl.", "33155-1234"},
			},
			want: "4500 SW 8TH ST|MIAMI|FL|33155",
		},
		{
			name: "post-directional after the suffix",
			in: []addr{
				{"123 Main Street North", "", "Fargo", "ND", "58102"},
				{"123 MAIN ST N", "", "FARGO", "ND", "58102"},
			},
			want: "123 MAIN ST N|FARGO|ND|58102",
		},
		{
			name: "words of the street name are kept",
			in: []addr{
				{"4600 Silver Hill Road", "", "Washington", "DC", "20233"},
				{"4600 SILVER HILL RD", "", "WASHINGTON", "DC", "20233"},
			},
			want: "4600 SILVER HILL RD|WASHINGTON|DC|20233",
		},
		{
			name: "a direction that is the street name",
			in: []addr{
				{"12 North Street", "", "Boston", "MA", "02114"},
				{"12 NORTH ST", "", "BOSTON", "MA", "02114"},
			},
			want: "12 NORTH ST|BOSTON|MA|02114",
		},
		{
			name: "a designator word right after the number is a name",
			in: []addr{
				{"100 Office Park Drive", "Suite 5", "Birmingham", "AL", "35233"},
				{"100 OFFICE PARK DR STE 5", "", "BIRMINGHAM", "AL", "35233"},
			},
			want: "100 OFFICE PARK DR STE 5|BIRMINGHAM|AL|35233",
		},
		{
			name: "several units",
			in: []addr{
				{"1 Medical Center Boulevard", "Building 3, Floor 2, Room 210", "Winston-Salem", "NC", "27157"},
				{"1 MEDICAL CENTER BLVD", "BLDG 3 FL 2 RM 210", "WINSTON SALEM", "NC", "27157"},
				{"1 Medical Center Blvd Bldg 3 Fl 2 Rm 210", "", "Winston Salem", "NC", "27157"},
			},
			want: "1 MEDICAL CENTER BLVD BLDG 3 FL 2 RM 210|WINSTON SALEM|NC|27157",
		},
		{
			name: "suffix, apartment",
			in: []addr{
				{"77 Parkway Drive", "Apartment 4B", "Austin", "TX", "78701"},
				{"77 PARKWAY DR", "APT #4B", "AUSTIN", "TX", "78701"},
			},
			want: "77 PARKWAY DR APT 4B|AUSTIN|TX|78701",
		},
		{
			name: "unit line first",
			in: []addr{
				{"Suite 300", "", "Denver", "CO", "80218"},
				{"STE 300", "", "DENVER", "CO", "80218"},
			},
			want: "STE 300|DENVER|CO|80218",
		},
		{
			name: "post office box",
			in: []addr{
				{"P.O. Box 1234", "", "Boise", "ID", "83701"},
				{"PO BOX 1234", "", "BOISE", "ID", "83701"},
				{"P O Box 1234", "", "Boise", "ID", "83701"},
				{"Post Office Box 1234", "", "Boise", "ID", "83701-0000"},
			},
			want: "PO BOX 1234|BOISE|ID|83701",
		},
		{
			name: "post office street name stays",
			in: []addr{
				{"1 Post Office Square", "Suite 200", "Boston", "MA", "02109"},
				{"1 POST OFFICE SQ", "STE 200", "BOSTON", "MA", "02109"},
			},
			want: "1 POST OFFICE SQ STE 200|BOSTON|MA|02109",
		},
		{
			name: "unit word inside the street name stays",
			in: []addr{
				{"123 N. Front Street", "", "Philadelphia", "PA", "19106"},
				{"123 NORTH FRONT ST", "", "PHILADELPHIA", "PA", "191061234"},
			},
			want: "123 N FRONT ST|PHILADELPHIA|PA|19106",
		},
		{
			name: "unit without number at the end",
			in: []addr{
				{"100 Main Street Rear", "", "Lexington", "KY", "40507"},
				{"100 MAIN ST", "REAR", "LEXINGTON", "KY", "40507"},
			},
			want: "100 MAIN ST REAR|LEXINGTON|KY|40507",
		},
		{
			name: "ordinal floor after the street",
			in: []addr{
				{"123 Main Street 2nd Floor", "", "Lexington", "KY", "40507"},
				{"123 Main Street", "2nd Floor", "Lexington", "KY", "40507"},
				{"123 MAIN ST, 2ND FL.", "", "LEXINGTON", "KY", "40507"},
				{"123 Main St", "2nd Fl", "Lexington", "KY", "40507"},
			},
			want: "123 MAIN ST 2ND FL|LEXINGTON|KY|40507",
		},
		{
			name: "pound sign without designator stays",
			in: []addr{
				{"10 Elm Street #5", "", "Boston", "MA", "02118"},
				{"10 ELM ST # 5", "", "BOSTON", "MA", "02118"},
			},
			want: "10 ELM ST # 5|BOSTON|MA|02118",
		},
		{
			name: "apostrophes dropped, hyphen separates",
			in: []addr{
				{"12 O'Brien Road", "", "Coeur d'Alene", "ID", "83814"},
				{"12 OBRIEN RD", "", "COEUR DALENE", "ID", "83814"},
			},
			want: "12 OBRIEN RD|COEUR DALENE|ID|83814",
		},
		{
			name: "hyphenated and fractional house numbers kept",
			in: []addr{
				{"45-12 Broadway", "", "Astoria", "NY", "11103"},
				{"45-12 BROADWAY", "", "ASTORIA", "NY", "111031234"},
			},
			want: "45-12 BROADWAY|ASTORIA|NY|11103",
		},
		{
			name: "fractional house number kept",
			in: []addr{
				{"123 1/2 Main Street", "Apt 4-B", "Reno", "NV", "89501"},
				{"123 1/2 MAIN ST", "APT 4 B", "RENO", "NV", "89501"},
			},
			want: "123 1/2 MAIN ST APT 4 B|RENO|NV|89501",
		},
		{
			name: "non-ASCII letters upper-cased",
			in: []addr{
				{"5 Calle Peña", "", "San Juan", "PR", "00901"},
				{"5 CALLE PEÑA", "", "SAN JUAN", "PR", "00901"},
			},
			want: "5 CALLE PEÑA|SAN JUAN|PR|00901",
		},
		{
			name: "foreign postal code kept",
			in: []addr{
				{"100 King Street West", "", "Toronto", "ON", "M5X 1A9"},
			},
			want: "100 KING ST W|TORONTO|ON|M5X1A9",
		},
		{
			name: "no street",
			in: []addr{
				{"", "", "Boise", "ID", "83701"},
				{" , ", "#", "Boise", "ID", "83701"},
			},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, a := range tt.in {
				if got := geo.AddressKey(a.line1, a.line2, a.city, a.state, a.zip); got != tt.want {
					t.Errorf("AddressKey(%q, %q, %q, %q, %q)\n = %q\nwant %q", a.line1, a.line2, a.city, a.state, a.zip, got, tt.want)
				}
			}
		})
	}
}

func TestAddressKeyDistinguishesAddresses(t *testing.T) {
	keys := map[string]string{}
	for _, a := range [][5]string{
		{"123 MAIN ST", "", "JACKSONVILLE", "FL", "32204"},
		{"125 MAIN ST", "", "JACKSONVILLE", "FL", "32204"},
		{"123 MAIN AVE", "", "JACKSONVILLE", "FL", "32204"},
		{"123 N MAIN ST", "", "JACKSONVILLE", "FL", "32204"},
		{"123 MAIN ST", "STE 100", "JACKSONVILLE", "FL", "32204"},
		{"123 MAIN ST", "", "JACKSONVILLE", "FL", "32205"},
		{"123 MAIN ST", "", "ORLANDO", "FL", "32204"},
		{"123 MAIN ST", "", "JACKSONVILLE", "GA", "32204"},
		{"45-12 BROADWAY", "", "ASTORIA", "NY", "11103"},
		{"45 12 BROADWAY", "", "ASTORIA", "NY", "11103"},
		{"123 1/2 MAIN ST", "", "JACKSONVILLE", "FL", "32204"},
		{"123 1 2 MAIN ST", "", "JACKSONVILLE", "FL", "32204"},
	} {
		k := geo.AddressKey(a[0], a[1], a[2], a[3], a[4])
		if prev, dup := keys[k]; dup {
			t.Errorf("%v and %s share the key %q", a, prev, k)
		}
		keys[k] = a[0] + " " + a[1]
	}
}

func TestParseAddressKey(t *testing.T) {
	k := geo.AddressKey("1 Medical Center Blvd", "Suite 5", "Winston Salem", "NC", "271571234")
	a, ok := geo.ParseAddressKey(k)
	want := geo.Address{Street: "1 MEDICAL CENTER BLVD STE 5", City: "WINSTON SALEM", State: "NC", ZIP: "27157"}
	if !ok || a != want {
		t.Errorf("ParseAddressKey(%q) = %+v, %v; want %+v", k, a, ok, want)
	}
	for _, bad := range []string{"", "a|b|c", "|CITY|ST|12345", "a|b|c|d|e"} {
		if _, ok := geo.ParseAddressKey(bad); ok {
			t.Errorf("ParseAddressKey(%q) accepted a malformed key", bad)
		}
	}
}

func BenchmarkAddressKey(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		geo.AddressKey("1 Medical Center Boulevard", "Suite #200", "Winston-Salem", "NC", "271571234")
	}
}
