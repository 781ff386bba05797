package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// CheckElementNames returns a 400 naming the first member of a
// MedicationRequest body (in the order of its path, names sorted within
// an object) whose name is an element of the resource written in another
// case ("Status", "dosageInstruction[0].timinG"). FHIR JSON names are
// case-sensitive, while encoding/json matches them without regard to
// case: such a member would be read as the element. A name that matches
// no element at all, and a body that is not JSON, are left to the
// decoding of the resource, which refuses them.
func CheckElementNames(body []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return checkNames(v, reflect.TypeFor[MedicationRequest](), "")
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

func checkNames(v any, typ reflect.Type, path string) error {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == rawMessageType || reflect.PointerTo(typ).Implements(unmarshalerType) {
		return nil // kept as given, or read by its own rules
	}
	switch x := v.(type) {
	case map[string]any:
		if typ.Kind() != reflect.Struct {
			return nil // the wrong JSON type: refused by the decoding
		}
		fields := map[string]reflect.Type{}
		jsonFields(typ, fields)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, k) {
						return errs.Invalid(p, "unknown element: FHIR element names are case-sensitive (R4 names it %q)", name)
					}
				}
				continue
			}
			if err := checkNames(x[k], ft, p); err != nil {
				return err
			}
		}
	case []any:
		if typ.Kind() != reflect.Slice {
			return nil
		}
		for i, e := range x {
			if err := checkNames(e, typ.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields adds the JSON names of struct type typ's fields to fields,
// with their types, those of embedded structs without a name of their own
// included, as encoding/json reads them.
func jsonFields(typ reflect.Type, fields map[string]reflect.Type) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			jsonFields(f.Type, fields)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
}
