package sample

import (
	"bufio"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

const (
	partBHeader = "Rndrng_NPI,Rndrng_Prvdr_Last_Org_Name,Rndrng_Prvdr_First_Name,Rndrng_Prvdr_MI,Rndrng_Prvdr_Crdntls,Rndrng_Prvdr_Ent_Cd,Rndrng_Prvdr_St1,Rndrng_Prvdr_St2,Rndrng_Prvdr_City,Rndrng_Prvdr_State_Abrvtn,Rndrng_Prvdr_State_FIPS,Rndrng_Prvdr_Zip5,Rndrng_Prvdr_RUCA,Rndrng_Prvdr_RUCA_Desc,Rndrng_Prvdr_Cntry,Rndrng_Prvdr_Type,Rndrng_Prvdr_Mdcr_Prtcptg_Ind,HCPCS_Cd,HCPCS_Desc,HCPCS_Drug_Ind,Place_Of_Srvc,Tot_Benes,Tot_Srvcs,Tot_Bene_Day_Srvcs,Avg_Sbmtd_Chrg,Avg_Mdcr_Alowd_Amt,Avg_Mdcr_Pymt_Amt,Avg_Mdcr_Stdzd_Amt\n"
	partDHeader = "Prscrbr_NPI,Prscrbr_Last_Org_Name,Prscrbr_First_Name,Prscrbr_City,Prscrbr_State_Abrvtn,Prscrbr_State_FIPS,Prscrbr_Type,Prscrbr_Type_Src,Brnd_Name,Gnrc_Name,Tot_Clms,Tot_30day_Fills,Tot_Day_Suply,Tot_Drug_Cst,Tot_Benes,GE65_Sprsn_Flag,GE65_Tot_Clms,GE65_Tot_30day_Fills,GE65_Tot_Drug_Cst,GE65_Tot_Day_Suply,GE65_Bene_Sprsn_Flag,GE65_Tot_Benes\n"
	rucaDesc    = "Metropolitan area core: primary flow within an urbanized area of 50,000 and greater"
)

// openPaymentsColumns are the 91 columns of the Open Payments general
// payments file, in the publisher's order.
var openPaymentsColumns = func() []string {
	cols := strings.Split("Change_Type,Covered_Recipient_Type,Teaching_Hospital_CCN,Teaching_Hospital_ID,Teaching_Hospital_Name,Covered_Recipient_Profile_ID,Covered_Recipient_NPI,Covered_Recipient_First_Name,Covered_Recipient_Middle_Name,Covered_Recipient_Last_Name,Covered_Recipient_Name_Suffix,Recipient_Primary_Business_Street_Address_Line1,Recipient_Primary_Business_Street_Address_Line2,Recipient_City,Recipient_State,Recipient_Zip_Code,Recipient_Country,Recipient_Province,Recipient_Postal_Code", ",")
	for n := 1; n <= 6; n++ {
		cols = append(cols, "Covered_Recipient_Primary_Type_"+strconv.Itoa(n))
	}
	for n := 1; n <= 6; n++ {
		cols = append(cols, "Covered_Recipient_Specialty_"+strconv.Itoa(n))
	}
	for n := 1; n <= 5; n++ {
		cols = append(cols, "Covered_Recipient_License_State_code"+strconv.Itoa(n))
	}
	cols = append(cols, strings.Split("Submitting_Applicable_Manufacturer_or_Applicable_GPO_Name,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_State,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Country,Total_Amount_of_Payment_USDollars,Date_of_Payment,Number_of_Payments_Included_in_Total_Amount,Form_of_Payment_or_Transfer_of_Value,Nature_of_Payment_or_Transfer_of_Value,City_of_Travel,State_of_Travel,Country_of_Travel,Physician_Ownership_Indicator,Third_Party_Payment_Recipient_Indicator,Name_of_Third_Party_Entity_Receiving_Payment_or_Transfer_of_Value,Charity_Indicator,Third_Party_Equals_Covered_Recipient_Indicator,Contextual_Information,Delay_in_Publication_Indicator,Record_ID,Dispute_Status_for_Publication,Related_Product_Indicator", ",")...)
	for n := 1; n <= 5; n++ {
		s := strconv.Itoa(n)
		cols = append(cols, "Covered_or_Noncovered_Indicator_"+s, "Indicate_Drug_or_Biological_or_Device_or_Medical_Supply_"+s,
			"Product_Category_or_Therapeutic_Area_"+s, "Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_"+s,
			"Associated_Drug_or_Biological_NDC_"+s, "Associated_Device_or_Medical_Supply_PDI_"+s)
	}
	return append(cols, "Program_Year", "Payment_Publication_Date")
}()

// amount rounds v to a random number of decimals between 2 and 9, as the
// CMS averages are printed.
func amount(l *line, r *rand.Rand, v float64) {
	prec := 2 + r.IntN(8)
	p := math.Pow10(prec)
	l.float(math.Round(v*p)/p, -1)
}

// optCount writes a count, blank when under 11 (CMS suppression).
func optCount(l *line, n int) {
	if n < 11 {
		l.str("")
		return
	}
	l.int(int64(n))
}

// writePartB writes the Medicare Part B by-provider-and-service file (28
// columns, data year 2024): one line per NPI, HCPCS code and place of
// service; beneficiary counts under 11 are blank.
func writePartB(w io.Writer, opts Options) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString(partBHeader)
	g := newGenerator(opts.Seed)
	l := line{}
	n := 0
	var tmp []byte
	for i := 0; i < opts.Providers; i++ {
		p := g.provider(i)
		if p.partB == 0 {
			continue
		}
		r := g.stream(i, 6)
		t := p.primaryTaxonomy()
		used := map[int]bool{}
		for k := 0; k < p.partB; k++ {
			h := r.IntN(len(hcpcsCodes))
			for used[h] {
				h = (h + 1) % len(hcpcsCodes)
			}
			used[h] = true
			code := hcpcsCodes[h]
			l.str(p.npi)
			if p.org {
				tmp = p.appendOrgName(tmp[:0])
				l.bytes(tmp)
				l.strs("", "", "", "O")
			} else {
				l.strs(p.last, p.first, p.middle, p.cred, "I")
			}
			tmp = p.appendStreet(tmp[:0])
			l.bytes(tmp)
			l.strs(p.line2, p.practice.city, p.practice.state, stateFIPS[p.practice.state], p.practice.zip, "1", rucaDesc, "US", t.cmsType, "Y")
			l.str(code.code)
			l.str(code.desc)
			if code.drug {
				l.str("Y")
			} else {
				l.str("N")
			}
			if r.IntN(4) == 0 {
				l.str("F")
			} else {
				l.str("O")
			}
			benes := 1 + r.IntN(300)
			services := benes + r.IntN(benes*2+1)
			optCount(&l, benes)
			if code.drug {
				l.float(float64(services)+float64(r.IntN(10))/10, -1)
			} else {
				l.int(int64(services))
			}
			l.int(int64(benes + r.IntN(services-benes+1)))
			charge := code.charge * (0.6 + r.Float64()*0.9)
			allowed := charge * (0.3 + r.Float64()*0.3)
			amount(&l, r, charge)
			amount(&l, r, allowed)
			amount(&l, r, allowed*0.8)
			amount(&l, r, allowed*(0.75+r.Float64()*0.1))
			if err := l.end(bw); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, bw.Flush()
}

// writePartD writes the Medicare Part D by-provider-and-drug file (22
// columns, data year 2024): lines under 11 claims are left out; counts
// under 11 are blank with the suppression flags "*" or "#".
func writePartD(w io.Writer, opts Options) (int, error) {
	bw := bufio.NewWriter(w)
	bw.WriteString(partDHeader)
	g := newGenerator(opts.Seed)
	l := line{}
	n := 0
	for i := 0; i < opts.Providers; i++ {
		p := g.provider(i)
		if p.partD == 0 {
			continue
		}
		r := g.stream(i, 7)
		t := p.primaryTaxonomy()
		used := map[int]bool{}
		for k := 0; k < p.partD; k++ {
			d := r.IntN(len(drugs))
			for used[d] {
				d = (d + 1) % len(drugs)
			}
			used[d] = true
			dr := drugs[d]
			claims := 11 + r.IntN(400)
			fills := float64(claims) * (1 + r.Float64()*0.6)
			days := int(fills * 30)
			cost := dr.costPerClaim * float64(claims) * (0.8 + r.Float64()*0.4)
			benes := 1 + r.IntN(claims)
			l.strs(p.npi, p.last, p.first, p.practice.city, p.practice.state, stateFIPS[p.practice.state], t.cmsType, "S", dr.brand, dr.generic)
			l.int(int64(claims))
			l.float(math.Round(fills*10)/10, -1)
			l.int(int64(days))
			l.float(math.Round(cost*100)/100, -1)
			optCount(&l, benes)
			ge65 := r.IntN(claims + 1)
			switch {
			case ge65 < 11:
				l.str("*")
				l.empty(4)
			case ge65 == claims:
				l.str("")
				l.int(int64(ge65))
				l.float(math.Round(fills*10)/10, -1)
				l.float(math.Round(cost*100)/100, -1)
				l.int(int64(days))
			default:
				share := float64(ge65) / float64(claims)
				l.str("")
				l.int(int64(ge65))
				l.float(math.Round(fills*share*10)/10, -1)
				l.float(math.Round(cost*share*100)/100, -1)
				l.int(int64(float64(days) * share))
			}
			ge65Benes := benes * 3 / 4
			switch {
			case benes < 11:
				l.str("#") // would reveal the suppressed total
				l.str("")
			case ge65Benes < 11:
				l.str("*")
				l.str("")
			default:
				l.str("")
				l.int(int64(ge65Benes))
			}
			if err := l.end(bw); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, bw.Flush()
}

// writeOpenPayments writes the Open Payments general payments file
// (program year 2024, 91 columns, every value quoted) for physicians and
// practitioners, and teaching hospitals (which have no NPI there).
func writeOpenPayments(w io.Writer, opts Options) (int, error) {
	bw := bufio.NewWriter(w)
	hl := line{quoteAll: true}
	hl.strs(openPaymentsColumns...)
	if err := hl.end(bw); err != nil {
		return 0, err
	}
	g := newGenerator(opts.Seed)
	l := line{quoteAll: true}
	n := 0
	var tmp []byte
	payDays := daysOf(2024, 1, 1)
	published := daysOf(2026, 1, 23)
	for i := 0; i < opts.Providers; i++ {
		p := g.provider(i)
		if p.payments == 0 {
			continue
		}
		r := g.stream(i, 8)
		t := p.primaryTaxonomy()
		for k := 0; k < p.payments; k++ {
			m := pick(r, manufacturers)
			nat := pick(r, paymentNatures)
			l.str(pick(r, []string{"UNCHANGED", "UNCHANGED", "UNCHANGED", "UNCHANGED", "NEW", "ADD", "CHANGED"}))
			if p.teachingHosp {
				l.str("Covered Recipient Teaching Hospital")
				l.int(int64(100000 + i%900000)) // CCN
				l.int(int64(5000 + i))          // Teaching_Hospital_ID
				tmp = p.appendOrgName(tmp[:0])
				l.bytes(tmp)
				l.strs("", "", "", "", "", "") // profile ID, NPI, names
			} else {
				if t.kind == "md" {
					l.str("Covered Recipient Physician")
				} else {
					l.str("Covered Recipient Non-Physician Practitioner")
				}
				l.strs("", "", "")
				l.int(int64(200000 + i)) // Covered_Recipient_Profile_ID
				l.strs(p.npi, p.first, p.middle, p.last, p.suffix)
			}
			tmp = p.appendStreet(tmp[:0])
			l.bytes(tmp)
			l.strs(p.line2, p.practice.city, p.practice.state)
			tmp = append(tmp[:0], p.practice.zip...)
			if p.zip4 >= 0 {
				tmp = append(tmp, '-')
				tmp = append(tmp, byte('0'+p.zip4/1000), byte('0'+p.zip4/100%10), byte('0'+p.zip4/10%10), byte('0'+p.zip4%10))
			}
			l.bytes(tmp)
			l.strs("United States", "", "")
			if p.teachingHosp {
				l.empty(6 + 6 + 5)
			} else {
				l.str(recipientType(t.kind, p.cred))
				l.empty(5)
				spec := t.grouping + "|" + t.classification
				if t.specialization != "" {
					spec += "|" + t.specialization
				}
				l.str(spec)
				l.empty(5)
				l.str(p.practice.state)
				l.empty(4)
			}
			l.strs(m.name, m.id, m.name, m.state, m.country)
			var amt float64
			switch nat.nature {
			case "Food and Beverage":
				amt = 8 + r.Float64()*140
			case "Consulting Fee", "Honoraria":
				amt = 500 + r.Float64()*4500
			default:
				amt = 20 + r.Float64()*2000
			}
			l.float(math.Round(amt*100)/100, -1)
			l.date(payDays + r.IntN(366))
			l.int(1)
			l.strs(nat.form, nat.nature)
			if nat.nature == "Travel and Lodging" {
				travel := pick(r, places)
				l.strs(travel.city, travel.state, "United States")
			} else {
				l.empty(3)
			}
			l.strs("No", "No Third Party Payment", "", "", "", "", "No")
			l.int(int64(1_000_000_000 + i*4 + k)) // Record_ID: unique
			l.str("No")
			prod := pick(r, m.products)
			l.str("Yes")
			l.strs("Covered", prod.kind, prod.category, prod.name, prod.ndc, "")
			l.empty(4 * 6)
			l.int(2024)
			l.date(published)
			if err := l.end(bw); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, bw.Flush()
}

// recipientType is Open Payments' Covered_Recipient_Primary_Type_1.
func recipientType(kind, cred string) string {
	switch kind {
	case "md":
		if strings.HasPrefix(cred, "D") {
			return "Doctor of Osteopathy"
		}
		return "Medical Doctor"
	case "np":
		return "Nurse Practitioner"
	case "pa":
		return "Physician Assistant"
	case "dds":
		return "Doctor of Dentistry"
	case "dpm":
		return "Doctor of Podiatric Medicine"
	case "od":
		return "Doctor of Optometry"
	}
	return "Medical Doctor"
}
