package deploycheck_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestUnmodeledTypesNameTemplateTests checks that every test named as the
// check of an unmodeled type or an ignored property exists in internal/stack.
func TestUnmodeledTypesNameTemplateTests(t *testing.T) {
	for _, name := range namedTests() {
		if !templateTestExists(t, name) {
			t.Errorf("unmodeledTypes or readers name %s, which internal/stack does not have", name)
		}
	}
}

// checkUnmodeledTypes keeps unmodeledTypes true, in moto: moto still skips
// each type (else the rehearsal should create it), and a stand-in of it is
// created with its Ref and Fn::GetAtt resolved to placeholders. One stack
// holds a resource of each type, another their stand-ins.
func checkUnmodeledTypes(t *testing.T, c *clients) {
	resources, outputs := map[string]any{}, map[string]any{}
	probeType := map[string]string{}
	for i, typ := range sortedKeys(unmodeledTypes) {
		id := fmt.Sprintf("Probe%d", i)
		probeType[id] = typ
		resources[id] = map[string]any{"Type": typ, "Properties": map[string]any{}}
		outputs[id+"Ref"] = map[string]any{"Value": map[string]any{"Ref": id}}
		outputs[id+"Arn"] = map[string]any{"Value": map[string]any{"Fn::GetAtt": []any{id, "Arn"}}}
		outputs[id+"SubArn"] = map[string]any{"Value": map[string]any{"Fn::Sub": "${" + id + ".Arn}/x"}}
	}
	body, err := json.Marshal(map[string]any{"Resources": resources})
	if err != nil {
		t.Fatal(err)
	}
	mustCreateStack(t, c, "unmodeled-types", body, nil)
	for _, r := range mustListResources(t, c, "unmodeled-types") {
		if typ, ok := probeType[aws.ToString(r.LogicalResourceId)]; ok {
			t.Errorf("moto now creates %s: drop it from unmodeledTypes, so the rehearsal creates and reads it", typ)
		}
	}

	body, _ = mustPrepareForMoto(t, map[string]any{"Resources": resources, "Outputs": outputs}, func(string) bool { return false })
	got := mustCreateStack(t, c, "unmodeled-types-standins", body, nil)
	for _, id := range sortedKeys(probeType) {
		for _, k := range []string{id + "Ref", id + "Arn", id + "SubArn"} {
			if v := got[k]; !strings.Contains(v, standInMarker) || unresolved(v) {
				t.Errorf("%s stand-in: output %s = %q, want a resolved placeholder", probeType[id], k, v)
			}
		}
		if v := got[id+"SubArn"]; !strings.HasPrefix(v, "arn:aws:") || !strings.HasSuffix(v, "/"+id+"/x") {
			t.Errorf("%s stand-in: Fn::Sub gave %q, want the placeholder ARN", probeType[id], v)
		}
	}
}

// TestReplaceGetAtts checks the rewriting of references to stand-ins
// without moto.
func TestReplaceGetAtts(t *testing.T) {
	standIns := map[string]string{"Alarm": "AWS::CloudWatch::Alarm"}
	in := map[string]any{
		"List":     map[string]any{"Fn::GetAtt": []any{"Alarm", "Arn"}},
		"Dotted":   map[string]any{"Fn::GetAtt": "Alarm.StateValue"},
		"Other":    map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}},
		"Ref":      map[string]any{"Ref": "Alarm"},
		"Sub":      map[string]any{"Fn::Sub": "${Alarm.Arn} ${Queue.Arn} ${!Alarm.Arn} ${Alarm}"},
		"Shadowed": map[string]any{"Fn::Sub": []any{"${Alarm.Arn}", map[string]any{"Alarm.Arn": "given"}}},
	}
	arn := "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:" + standInMarker + "/Alarm"
	want := map[string]any{
		"List":     map[string]any{"Fn::Sub": arn},
		"Dotted":   standInMarker + ":Alarm.StateValue",
		"Other":    map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}},
		"Ref":      map[string]any{"Ref": "Alarm"}, // the stand-in's own Ref
		"Sub":      map[string]any{"Fn::Sub": arn + " ${Queue.Arn} ${!Alarm.Arn} ${Alarm}"},
		"Shadowed": map[string]any{"Fn::Sub": []any{"${Alarm.Arn}", map[string]any{"Alarm.Arn": "given"}}},
	}
	if got := replaceGetAtts(in, standIns); !reflect.DeepEqual(got, want) {
		t.Errorf("replaceGetAtts =\n%s\nwant\n%s", jsonText(got), jsonText(want))
	}
}

// namedTests returns the test names unmodeledTypes and readers give as the
// checks of what moto does not model.
func namedTests() []string {
	testName := regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9]*`)
	seen := map[string]bool{}
	add := func(s string) {
		for _, name := range testName.FindAllString(s, -1) {
			seen[name] = true
		}
	}
	for _, test := range unmodeledTypes {
		add(test)
	}
	for _, rd := range readers {
		for _, test := range rd.ignored {
			add(test)
		}
	}
	return sortedKeys(seen)
}

// templateTestExists reports whether internal/stack has a test of that name.
func templateTestExists(t *testing.T, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "stack", "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("internal/stack tests not found: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "func "+name+"(t *testing.T)") {
			return true
		}
	}
	return false
}

func TestPythonToJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{'Version': '2012-10-17', 'Statement': [{'Sid': 'A'}, None, None]}`, `{"Version": "2012-10-17", "Statement": [{"Sid": "A"}, null, null]}`},
		{`{'Bool': {'aws:SecureTransport': 'false'}, 'On': True, 'Off': False, 'N': 5}`, `{"Bool": {"aws:SecureTransport": "false"}, "On": true, "Off": false, "N": 5}`},
		{`{'Description': "it's None", 'Path': 'a\\b'}`, `{"Description": "it's None", "Path": "a\\b"}`},
	}
	for _, tc := range cases {
		got, err := pythonToJSON(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("pythonToJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := pythonToJSON(`{'open`); err == nil {
		t.Error("pythonToJSON of an unterminated string: no error")
	}
}
