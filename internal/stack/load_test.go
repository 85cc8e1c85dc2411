package stack_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/scheduler"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// How the template is read.
//
// goformation parses the template strictly (unknown resource types and
// properties are errors), but its AWS SAM schema predates four SAM features
// the template uses:
//
//   - LoggingConfig of AWS::Serverless::Function and of Globals.Function;
//   - FunctionResponseTypes, MaximumBatchingWindowInSeconds and ScalingConfig
//     of an SQS event;
//   - the ScheduleV2 event type;
//   - FunctionUrlConfig.Cors as AWS::Lambda::Url takes it (goformation has
//     the API's Cors there, and silently drops AllowOrigins).
//
// A function with LoggingConfig fails to parse (TestGoformationLacksSAMProperties
// pins that), while an unknown event property or type is silently dropped and
// goformation ignores unknown Globals. So mustLoad lifts exactly those
// properties out of the processed template before goformation.ParseJSON sees
// it, decodes each of them strictly into the goformation type of the
// CloudFormation property SAM passes it to (lambda.Function_LoggingConfig,
// lambda.EventSourceMapping_ScalingConfig, scheduler.Schedule_RetryPolicy …),
// decodes Globals.Function strictly, and fails when an event did not decode
// into exactly one goformation event type.
//
// Intrinsic functions: Ref to a parameter gives its value (the default unless
// a test overrides it), Fn::If picks the branch of its condition as evaluated
// for those values, AWS::NoValue removes the property, and every other
// intrinsic (Ref to a resource, Fn::GetAtt, Fn::Sub) stays as goformation's
// encoding, comparable with cloudformation.Ref, GetAtt and Sub.

const templatePath = "../../template.yaml"

// required are the parameters without a default.
var required = map[string]any{
	"QuandlApiKeyCiphertext": "AQICAHhquandlkeyciphertext==",
	"DatabaseUrlCiphertext":  "AQICAHhdatabaseurlciphertext==",
}

// stack is template.yaml as deployed with one set of parameter values.
type stack struct {
	tpl        *cloudformation.Template
	doc        map[string]any // the processed template, as generic JSON
	params     map[string]any // parameter values
	conditions map[string]bool
	logging    map[string]*lambda.Function_LoggingConfig // by function logical id, and "Globals"
	sqsEvents  map[string]sqsEventExtras                 // by "<function>.<event>"
	schedules  map[string]scheduleV2                     // by "<function>.<event>"
	urlCors    map[string]*lambda.Url_Cors               // by function logical id
}

// sqsEventExtras are the SQS event properties SAM passes on to
// AWS::Lambda::EventSourceMapping that goformation's SAM schema lacks.
type sqsEventExtras struct {
	FunctionResponseTypes          []string
	MaximumBatchingWindowInSeconds *int
	ScalingConfig                  *lambda.EventSourceMapping_ScalingConfig
}

// scheduleV2 is SAM's ScheduleV2 event (an AWS::Scheduler::Schedule), which
// goformation lacks; only the properties the template may use are accepted.
type scheduleV2 struct {
	ScheduleExpression         string
	ScheduleExpressionTimezone *string
	Input                      *string
	OmitName                   *bool
	RoleArn                    *string
	RetryPolicy                *scheduler.Schedule_RetryPolicy
	FlexibleTimeWindow         *scheduler.Schedule_FlexibleTimeWindow
	Description                *string
	State                      *string
}

// mustLoad parses template.yaml with the given parameter values on top of
// the defaults and the required parameters.
func mustLoad(t *testing.T, overrides map[string]any) *stack {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	raw := mustProcess(t, data, &intrinsics.ProcessorOptions{NoProcess: true})

	s := &stack{
		logging:   map[string]*lambda.Function_LoggingConfig{},
		sqsEvents: map[string]sqsEventExtras{},
		schedules: map[string]scheduleV2{},
		urlCors:   map[string]*lambda.Url_Cors{},
	}
	s.params = mustParams(t, raw, overrides)
	var errs []error
	s.conditions = mustConditions(t, raw, handlers(s.params, nil, &errs))
	s.doc = mustProcess(t, data, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: handlers(s.params, s.conditions, &errs),
	})
	if len(errs) > 0 {
		t.Fatalf("intrinsic functions: %v", errs)
	}
	dropNoValue(s.doc)
	s.liftSAMOnly(t)

	b, err := json.Marshal(s.doc)
	if err != nil {
		t.Fatalf("marshal processed template: %v", err)
	}
	s.tpl, err = goformation.ParseJSONWithOptions(b, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	s.mustCheckEvents(t)
	return s
}

// mustProcess runs goformation's intrinsic processor and returns the result
// as generic JSON.
func mustProcess(t *testing.T, data []byte, opts *intrinsics.ProcessorOptions) map[string]any {
	t.Helper()
	out, err := intrinsics.ProcessYAML(data, opts)
	if err != nil {
		t.Fatalf("process template: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("processed template: %v", err)
	}
	return doc
}

// mustParams returns every parameter's value: the override, else the default.
func mustParams(t *testing.T, raw map[string]any, overrides map[string]any) map[string]any {
	t.Helper()
	decls, _ := raw["Parameters"].(map[string]any)
	given := maps.Clone(required)
	maps.Copy(given, overrides)
	for name := range given {
		if _, ok := decls[name]; !ok {
			t.Fatalf("override of unknown parameter %s", name)
		}
	}
	values := map[string]any{}
	for name, d := range decls {
		decl := d.(map[string]any)
		v, ok := given[name]
		if !ok {
			if v, ok = decl["Default"]; !ok {
				t.Fatalf("parameter %s has no default and no test value", name)
			}
		}
		switch typ := decl["Type"].(string); {
		case typ == "Number":
			var n float64
			if _, err := fmt.Sscan(fmt.Sprint(v), &n); err != nil {
				t.Fatalf("parameter %s: %v is not a number", name, v)
			}
			values[name] = n
		case typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<"):
			var list []any
			for _, item := range strings.Split(fmt.Sprint(v), ",") {
				list = append(list, item)
			}
			values[name] = list
		default:
			values[name] = fmt.Sprint(v)
		}
	}
	return values
}

// mustConditions evaluates the Conditions section for the parameter values.
func mustConditions(t *testing.T, raw map[string]any, h map[string]intrinsics.IntrinsicHandler) map[string]bool {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Conditions": raw["Conditions"]})
	if err != nil {
		t.Fatalf("marshal conditions: %v", err)
	}
	out, err := intrinsics.ProcessJSON(b, &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: h})
	if err != nil {
		t.Fatalf("evaluate conditions: %v", err)
	}
	var evaluated struct{ Conditions map[string]any }
	if err := json.Unmarshal(out, &evaluated); err != nil {
		t.Fatalf("evaluated conditions: %v", err)
	}
	conditions := map[string]bool{}
	for name, v := range evaluated.Conditions {
		b, ok := v.(bool)
		if !ok {
			t.Fatalf("condition %s evaluated to %v, not a boolean", name, v)
		}
		conditions[name] = b
	}
	return conditions
}

// handlers are goformation's encoders for intrinsic functions, except that
// parameters, conditions and Fn::If are evaluated. Problems go to errs.
func handlers(params map[string]any, conditions map[string]bool, errs *[]error) map[string]intrinsics.IntrinsicHandler {
	h := maps.Clone(cloudformation.EncoderIntrinsics)
	h["Fn::Equals"] = intrinsics.FnEquals
	h["Fn::Not"] = intrinsics.FnNot
	h["Fn::And"] = intrinsics.FnAnd
	h["Fn::Or"] = intrinsics.FnOr
	h["Fn::Join"] = intrinsics.FnJoin
	h["Ref"] = func(_ string, input, _ any) any {
		name, _ := input.(string)
		if v, ok := params[name]; ok {
			return v
		}
		if name == "AWS::NoValue" {
			return nil
		}
		return cloudformation.Ref(name)
	}
	h["Fn::If"] = func(_ string, input, _ any) any {
		args, _ := input.([]any)
		if len(args) != 3 {
			*errs = append(*errs, fmt.Errorf("Fn::If %v: want 3 arguments", input))
			return nil
		}
		name, _ := args[0].(string)
		v, ok := conditions[name]
		if !ok {
			*errs = append(*errs, fmt.Errorf("Fn::If on unknown condition %q", name))
			return nil
		}
		if v {
			return args[1]
		}
		return args[2]
	}
	return h
}

// dropNoValue removes what evaluated to AWS::NoValue (null), as CloudFormation does.
func dropNoValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			v[k] = dropNoValue(e)
		}
	case []any:
		kept := v[:0]
		for _, e := range v {
			if e != nil {
				kept = append(kept, dropNoValue(e))
			}
		}
		return kept
	}
	return v
}

// liftSAMOnly moves the SAM properties goformation lacks out of s.doc into
// s.logging, s.sqsEvents, s.schedules and s.urlCors, decoding each strictly.
func (s *stack) liftSAMOnly(t *testing.T) {
	t.Helper()
	if globals, ok := s.doc["Globals"].(map[string]any); ok {
		if fn, ok := globals["Function"].(map[string]any); ok {
			s.logging["Globals"] = mustLift[lambda.Function_LoggingConfig](t, fn, "LoggingConfig", "Globals.Function")
			// goformation ignores unknown Globals; this does not.
			mustDecodeStrict(t, fn, &global.Function{}, "Globals.Function")
		}
	}
	resources, _ := s.doc["Resources"].(map[string]any)
	for id, r := range resources {
		res, _ := r.(map[string]any)
		if res["Type"] != "AWS::Serverless::Function" {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		s.logging[id] = mustLift[lambda.Function_LoggingConfig](t, props, "LoggingConfig", id)
		if urlConfig, ok := props["FunctionUrlConfig"].(map[string]any); ok {
			s.urlCors[id] = mustLift[lambda.Url_Cors](t, urlConfig, "Cors", id+".FunctionUrlConfig")
		}
		events, _ := props["Events"].(map[string]any)
		for name, e := range events {
			event, _ := e.(map[string]any)
			key := id + "." + name
			eprops, _ := event["Properties"].(map[string]any)
			switch event["Type"] {
			case "SQS":
				var extras sqsEventExtras
				lifted := map[string]any{}
				for _, p := range []string{"FunctionResponseTypes", "MaximumBatchingWindowInSeconds", "ScalingConfig"} {
					if v, ok := eprops[p]; ok {
						lifted[p] = v
						delete(eprops, p)
					}
				}
				mustDecodeStrict(t, lifted, &extras, key)
				s.sqsEvents[key] = extras
			case "ScheduleV2":
				var sched scheduleV2
				mustDecodeStrict(t, eprops, &sched, key)
				s.schedules[key] = sched
				delete(events, name)
			}
		}
	}
}

// mustLift removes m[key] and decodes it strictly into a new T (nil when absent).
func mustLift[T any](t *testing.T, m map[string]any, key, where string) *T {
	t.Helper()
	v, ok := m[key]
	if !ok {
		return nil
	}
	delete(m, key)
	out := new(T)
	mustDecodeStrict(t, v, out, where+"."+key)
	return out
}

// mustDecodeStrict decodes v into out, failing on any property out lacks.
func mustDecodeStrict(t *testing.T, v, out any, where string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// mustCheckEvents fails unless every remaining event decoded into exactly one
// goformation event type: goformation drops an event silently otherwise.
func (s *stack) mustCheckEvents(t *testing.T) {
	t.Helper()
	for id, fn := range s.tpl.GetAllServerlessFunctionResources() {
		for name, e := range fn.Events {
			if e.Properties == nil {
				t.Fatalf("%s.%s: no properties", id, name)
			}
			matched := 0
			v := reflect.ValueOf(*e.Properties)
			for i := range v.NumField() {
				if !v.Field(i).IsNil() {
					matched++
				}
			}
			if matched != 1 {
				t.Fatalf("%s.%s (%s): goformation matched %d event types, want 1", id, name, e.Type, matched)
			}
		}
	}
}

// mustFunction returns a SAM function of the template.
func (s *stack) mustFunction(t *testing.T, id string) *serverless.Function {
	t.Helper()
	fn, err := s.tpl.GetServerlessFunctionWithName(id)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return fn
}

// decoded shows an encoded intrinsic function as JSON, for failure messages.
func decoded(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !json.Valid(b) {
		return s
	}
	return string(b)
}

// sorted returns the keys of a set, sorted.
func sorted[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// repoFile reads a file at the repository root.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}
