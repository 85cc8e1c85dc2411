package deploycheck_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/acmecheckout/reports/internal/testenv"
)

// TestUnmodeledTypes keeps unmodeledTypes true: moto still skips each type
// (else the rehearsal should create it), a stand-in of it is created and its
// Ref and Fn::GetAtt resolve to placeholders, and every test named as the
// check of an unmodeled type or property exists in internal/stack.
func TestUnmodeledTypes(t *testing.T) {
	for _, name := range namedTests() {
		if !templateTestExists(t, name) {
			t.Errorf("unmodeledTypes or readers name %s, which internal/stack does not have", name)
		}
	}

	_, motoLog := testenv.Moto(t)
	c := newClients(t, motoLog)
	for _, typ := range sortedKeys(unmodeledTypes) {
		probe := map[string]any{
			"Resources": map[string]any{"Probe": map[string]any{"Type": typ, "Properties": map[string]any{}}},
		}
		body, err := json.Marshal(probe)
		if err != nil {
			t.Fatal(err)
		}
		stack := "unmodeled-" + strings.NewReplacer("::", "-").Replace(typ)
		mustCreateStack(t, c, stack, body, nil)
		for _, r := range mustListResources(t, c, stack) {
			if aws.ToString(r.LogicalResourceId) == "Probe" {
				t.Errorf("moto now creates %s: drop it from unmodeledTypes, so the rehearsal creates and reads it", typ)
			}
		}

		probe["Outputs"] = map[string]any{
			"Ref":    map[string]any{"Value": map[string]any{"Ref": "Probe"}},
			"Arn":    map[string]any{"Value": map[string]any{"Fn::GetAtt": []any{"Probe", "Arn"}}},
			"SubArn": map[string]any{"Value": map[string]any{"Fn::Sub": "${Probe.Arn}/x"}},
		}
		body, _ = mustPrepareForMoto(t, probe, func(string) bool { return false })
		outputs := mustCreateStack(t, c, stack+"-standin", body, nil)
		for _, k := range []string{"Ref", "Arn", "SubArn"} {
			if v := outputs[k]; !strings.Contains(v, standInMarker) || unresolved(v) {
				t.Errorf("%s stand-in: output %s = %q, want a resolved placeholder", typ, k, v)
			}
		}
		if v := outputs["SubArn"]; !strings.HasPrefix(v, "arn:aws:") || !strings.HasSuffix(v, "/Probe/x") {
			t.Errorf("%s stand-in: Fn::Sub gave %q, want the placeholder ARN", typ, v)
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
