package httpx

import "testing"

func TestNulString(t *testing.T) {
	cases := []struct {
		data, path string
		found      bool
	}{
		{`{"givenName":"Ana"}`, "", false},
		{`{"givenName":"A\\u0000B"}`, "", false}, // an escaped backslash, then the text u0000
		{`{"givenName":"A\u0000B"}`, "givenName", true},
		{`{"a":"x","medication":{"rxnorm":"1","display":"x\u0000"}}`, "medication.display", true},
		{`{"events":[{"kind":"taken"},{"deviceId":"\u0000"}]}`, "events[1].deviceId", true},
		{`{"timeOfDay":["08:00","\u0000"]}`, "timeOfDay[1]", true},
		{`{"anchors":{"a\u0000":"x"}}`, "anchors", true},
		{`{"Zelda Quixote":{"v":"\u0000"}}`, "(key).v", true},
		{`"\u0000"`, "", true},
		{`{"n":[1,2,{"s":"ok"}],"t":"\u0000"}`, "t", true},
	}
	for _, c := range cases {
		path, found := nulString([]byte(c.data))
		if path != c.path || found != c.found {
			t.Errorf("nulString(%s) = %q, %v; want %q, %v", c.data, path, found, c.path, c.found)
		}
	}
}
