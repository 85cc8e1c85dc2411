package deploycheck_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// unmodeledTypes are the resource types moto's CloudFormation (moto 5.2.1)
// does not create, each with the test of internal/stack that checks its
// resources property by property instead. Left as they are, moto would skip
// such a resource without an error (listing it with no logical id), resolve
// a Ref to it to nothing, drop an output that refers to it, and fail the whole
// CreateStack with an HTTP 500 on a Fn::GetAtt of it. So the rehearsal
// replaces each of them by a stand-in (an AWS::SSM::Parameter with the same
// Condition and DependsOn, so it is created exactly when the real resource
// would be), turns every Fn::GetAtt of it into a placeholder string
// (standInValue), and reports it as not modeled. TestUnmodeledTypes checks
// that moto still does not create these types and that each named test exists.
//
// Probed with a one-resource stack per type, moto 5.2.1 also cannot create:
// AWS::S3::BucketPolicy, AWS::Glue::Database, AWS::Glue::Table,
// AWS::Athena::WorkGroup and AWS::Lambda::Url (SAM's FunctionUrlConfig). It
// does create AWS::S3::Bucket, AWS::IAM::ManagedPolicy,
// AWS::CloudWatch::Dashboard, AWS::Lambda::Permission, AWS::SNS::Topic,
// AWS::KMS::Key and AWS::Logs::LogGroup. Whoever adds one of the unmodeled
// types to template.yaml adds it here with the template test that checks it;
// until then the rehearsal fails and says so.
var unmodeledTypes = map[string]string{
	"AWS::CloudWatch::Alarm":         "TestAlarms (TestEtlSeriesAlarms the metric math ones)",
	"AWS::Scheduler::Schedule":       "TestSchedules",
	"AWS::Lambda::EventInvokeConfig": "TestSchedules",
	"AWS::SQS::QueuePolicy":          "TestQueuesDenyInsecureTransport",
	"AWS::Lambda::Url":               "TestApiFunctionURL",
	"AWS::S3::BucketPolicy":          "TestLakeBucket",
	"AWS::Glue::Database":            "TestLakeGlueTablesMatchTheParquetSchema",
	"AWS::Glue::Table":               "TestLakeGlueTablesMatchTheParquetSchema",
	"AWS::Athena::WorkGroup":         "TestLakeWorkGroup",
}

// standInMarker starts every placeholder value, so a report can tell them.
const standInMarker = "rehearsal-stand-in"

// Prefixes of the outputs the rehearsal adds to the template it sends to moto
// (never to a deployed template): one per condition, present exactly when the
// condition is true, and one per read-back resource, holding its properties
// as CloudFormation resolved them (Fn::ToJsonString, which moto evaluates).
const (
	conditionOutputPrefix  = "RehearsalCondition"
	propertiesOutputPrefix = "RehearsalProperties"
)

// plan is what the rehearsal changed in the template it sends to moto.
type plan struct {
	resources  map[string]map[string]any // the transformed template's resources, as transformed
	outputs    map[string]map[string]any // the transformed template's outputs
	standIns   map[string]string         // resource logical id -> its (unmodeled) type
	conditions []string                  // names of the template's conditions
}

// mustPrepareForMoto returns the template to send to moto and what was
// changed: unmodeled resources replaced by stand-ins, the probe outputs added.
// readable reports whether the rehearsal reads back resources of a type.
func mustPrepareForMoto(t *testing.T, tpl map[string]any, readable func(typ string) bool) ([]byte, *plan) {
	t.Helper()
	p := &plan{resources: mustSection(t, tpl, "Resources"), outputs: mustSection(t, tpl, "Outputs"), standIns: map[string]string{}}
	for id, res := range p.resources {
		if typ, _ := res["Type"].(string); unmodeledTypes[typ] != "" {
			p.standIns[id] = typ
		}
	}
	conditions, _ := tpl["Conditions"].(map[string]any)
	p.conditions = sortedKeys(conditions)

	sent := map[string]any{}
	for k, v := range tpl {
		sent[k] = v
	}
	sentResources := map[string]any{}
	for id, res := range p.resources {
		if typ, ok := p.standIns[id]; ok {
			sentResources[id] = standIn(id, typ, res)
			continue
		}
		sentResources[id] = replaceGetAtts(res, p.standIns)
	}
	sentOutputs := map[string]any{}
	for id, out := range p.outputs {
		sentOutputs[id] = replaceGetAtts(out, p.standIns)
	}
	for _, name := range p.conditions {
		sentOutputs[mustNewOutputID(t, p, conditionOutputPrefix+name)] = map[string]any{"Condition": name, "Value": "true"}
	}
	for id, res := range p.resources {
		typ, _ := res["Type"].(string)
		if _, standIn := p.standIns[id]; standIn || !readable(typ) {
			continue
		}
		out := map[string]any{"Value": map[string]any{"Fn::ToJsonString": replaceGetAtts(res["Properties"], p.standIns)}}
		if c, ok := res["Condition"]; ok {
			out["Condition"] = c
		}
		sentOutputs[mustNewOutputID(t, p, propertiesOutputPrefix+id)] = out
	}
	sent["Resources"], sent["Outputs"] = sentResources, sentOutputs
	body, err := json.Marshal(sent)
	if err != nil {
		t.Fatalf("marshal the template for moto: %v", err)
	}
	return body, p
}

// mustSection returns a section of the template (Resources, Outputs) by
// logical id, failing on an entry that is not an object.
func mustSection(t *testing.T, tpl map[string]any, name string) map[string]map[string]any {
	t.Helper()
	section, _ := tpl[name].(map[string]any)
	out := make(map[string]map[string]any, len(section))
	for id, v := range section {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not an object", name, id)
		}
		out[id] = obj
	}
	return out
}

// mustNewOutputID returns id after checking the template has no such output.
func mustNewOutputID(t *testing.T, p *plan, id string) string {
	t.Helper()
	if _, taken := p.outputs[id]; taken {
		t.Fatalf("the template has an output %s; the rehearsal's own outputs start with Rehearsal", id)
	}
	return id
}

// standIn is the resource sent to moto in place of an unmodeled one.
func standIn(id, typ string, res map[string]any) map[string]any {
	out := map[string]any{
		"Type": "AWS::SSM::Parameter",
		"Properties": map[string]any{
			"Name":  map[string]any{"Fn::Sub": "/" + standInMarker + "/${AWS::StackName}/" + id},
			"Type":  "String",
			"Value": fmt.Sprintf("%s: moto does not model %s; %s checks it", id, typ, unmodeledTypes[typ]),
		},
	}
	for _, k := range []string{"Condition", "DependsOn"} {
		if v, ok := res[k]; ok {
			out[k] = v
		}
	}
	return out
}

// standInValue is what a Fn::GetAtt of an unmodeled resource becomes: an ARN
// for an Arn attribute (moto validates ARNs in IAM policies), a plain
// placeholder otherwise.
func standInValue(id, attr, typ string) any {
	if attr == "Arn" || strings.HasSuffix(attr, ".Arn") {
		service := strings.ToLower(strings.Split(typ, "::")[1])
		return map[string]any{"Fn::Sub": "arn:${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}:" + standInMarker + "/" + id}
	}
	return standInMarker + ":" + id + "." + attr
}

// subGetAtt matches ${Resource.Attribute} in a Fn::Sub string (not ${!...}).
var subGetAtt = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}`)

// replaceGetAtts returns v with every Fn::GetAtt of a stand-in, and every
// ${StandIn.Attribute} of a Fn::Sub, replaced by its standInValue.
func replaceGetAtts(v any, standIns map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		if ga, ok := v["Fn::GetAtt"]; ok && len(v) == 1 {
			id, attr := getAttParts(ga)
			if typ, ok := standIns[id]; ok {
				return standInValue(id, attr, typ)
			}
		}
		if sub, ok := v["Fn::Sub"]; ok && len(v) == 1 {
			return map[string]any{"Fn::Sub": replaceInSub(sub, standIns)}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = replaceGetAtts(e, standIns)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = replaceGetAtts(e, standIns)
		}
		return out
	}
	return v
}

// replaceInSub replaces ${StandIn.Attribute} in a Fn::Sub's string, unless
// the Fn::Sub's own variables define StandIn.
func replaceInSub(sub any, standIns map[string]string) any {
	str, vars := sub, map[string]any{}
	if list, ok := sub.([]any); ok && len(list) == 2 {
		str = list[0]
		vars, _ = list[1].(map[string]any)
	}
	s, ok := str.(string)
	if !ok {
		return sub
	}
	s = subGetAtt.ReplaceAllStringFunc(s, func(m string) string {
		parts := subGetAtt.FindStringSubmatch(m)
		typ, standIn := standIns[parts[1]]
		if _, shadowed := vars[parts[1]+"."+parts[2]]; !standIn || shadowed {
			return m
		}
		switch v := standInValue(parts[1], parts[2], typ).(type) {
		case string:
			return v
		default: // an ARN: its own Fn::Sub string, inlined
			return v.(map[string]any)["Fn::Sub"].(string)
		}
	})
	if list, ok := sub.([]any); ok && len(list) == 2 {
		return []any{s, replaceGetAtts(list[1], standIns)}
	}
	return s
}

// getAttParts returns the resource and attribute of a Fn::GetAtt's argument,
// in its list or "Resource.Attribute" form.
func getAttParts(v any) (id, attr string) {
	switch v := v.(type) {
	case []any:
		if len(v) == 2 {
			id, _ = v[0].(string)
			attr, _ = v[1].(string)
		}
	case string:
		id, attr, _ = strings.Cut(v, ".")
	}
	return id, attr
}
