package stack_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/glue"
	"github.com/awslabs/goformation/v7/cloudformation/policies"

	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
)

// withLake deploys the lake beside PostgreSQL, in a bucket made by the stack.
var withLake = map[string]any{"LakeEnabled": "true"}

// glueTables returns the template's Glue tables by table name.
func glueTables(t *testing.T, s *stack) map[string]*glue.Table {
	t.Helper()
	out := map[string]*glue.Table{}
	for id, tb := range s.tpl.GetAllGlueTableResources() {
		if tb.TableInput == nil || tb.TableInput.Name == nil {
			t.Fatalf("%s has no TableInput.Name", id)
		}
		out[*tb.TableInput.Name] = tb
	}
	return out
}

// Athena must see exactly the tables the lake writes: the Glue columns and
// types are the Parquet schema (lake.HiveColumns of markets.Tables), and the
// partition projection finds the objects where lake.SeriesKey puts them.
func TestLakeGlueTablesMatchTheParquetSchema(t *testing.T) {
	s := mustLoad(t, withLake)
	tables := glueTables(t, s)
	if len(tables) != len(markets.Tables()) {
		t.Errorf("%d Glue tables %v, want one per table of markets.Tables (%d)", len(tables), sorted(tables), len(markets.Tables()))
	}
	for _, mt := range markets.Tables() {
		t.Run(mt.Name, func(t *testing.T) {
			tb, ok := tables[mt.Name]
			if !ok {
				t.Fatalf("no Glue table %s", mt.Name)
			}
			in := tb.TableInput
			if tb.AWSCloudFormationCondition != "UseLake" {
				t.Errorf("condition %q, want UseLake", tb.AWSCloudFormationCondition)
			}
			if tb.DatabaseName != ref("LakeDatabase") || tb.CatalogId != ref("AWS::AccountId") {
				t.Errorf("database %s catalog %s, want LakeDatabase in this account", decoded(tb.DatabaseName), decoded(tb.CatalogId))
			}
			var got []lake.HiveColumn
			for _, c := range in.StorageDescriptor.Columns {
				got = append(got, lake.HiveColumn{Name: c.Name, Type: ptrString(c.Type)})
			}
			if want := lake.HiveColumns(mt); !slices.Equal(got, want) {
				t.Errorf("columns\n%v\nwant the Parquet schema\n%v", got, want)
			}
			if ptrString(in.TableType) != "EXTERNAL_TABLE" {
				t.Errorf("TableType %s, want EXTERNAL_TABLE", show(in.TableType))
			}
			sd := in.StorageDescriptor
			if ptrString(sd.InputFormat) != "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat" ||
				ptrString(sd.OutputFormat) != "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat" ||
				sd.SerdeInfo == nil || ptrString(sd.SerdeInfo.SerializationLibrary) != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" {
				t.Errorf("storage %s, want Parquet input, output and SerDe", show(sd))
			}
			dir := "s3://<LakeBucket>/lake/" + mt.Name + "/"
			if got := s.resolve(t, ptrString(sd.Location)); got != dir {
				t.Errorf("Location %s, want %s", got, dir)
			}
			params, _ := in.Parameters.(map[string]any)
			if mt.Name == markets.MarketsTable.Name {
				if len(in.PartitionKeys) != 0 || params["projection.enabled"] != nil {
					t.Errorf("markets: partitions %s, parameters %s; want none", show(in.PartitionKeys), show(params))
				}
				if want := dir + "data.parquet"; "s3://<LakeBucket>/lake/"+lake.MarketsKey != want {
					t.Errorf("the markets object %s is not in the table's location %s", lake.MarketsKey, dir)
				}
				return
			}
			if want := []glue.Table_Column{{Name: lake.PartitionColumn, Type: ptr("int")}}; !reflect.DeepEqual(in.PartitionKeys, want) {
				t.Errorf("PartitionKeys %s, want year int", show(in.PartitionKeys))
			}
			wantParams := map[string]string{
				"classification":         "parquet",
				"projection.enabled":     "true",
				"projection.year.type":   "integer",
				"projection.year.range":  "1900,2100",
				"projection.year.digits": "4",
			}
			for k, v := range wantParams {
				if params[k] != v {
					t.Errorf("parameter %s = %s, want %s", k, show(params[k]), v)
				}
			}
			tmpl := s.resolve(t, fmt.Sprint(params["storage.location.template"]))
			if want := dir + "year=${year}"; tmpl != want {
				t.Errorf("storage.location.template %s, want %s", tmpl, want)
			}
			// The projected location of a year holds the objects the lake writes for it.
			key := "s3://<LakeBucket>/lake/" + lake.SeriesKey(markets.Job(mt.Name), 1987, "WIKI", "FB")
			if dir := strings.Replace(tmpl, "${year}", "1987", 1) + "/"; !strings.HasPrefix(key, dir) || strings.Contains(key[len(dir):], "/") {
				t.Errorf("the lake writes %s, not directly in the projected partition %s", key, dir)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestLakeIsOffByDefault(t *testing.T) {
	s := mustLoad(t, nil)
	if s.conditions["UseLake"] || s.conditions["CreateLakeBucket"] {
		t.Errorf("conditions %v: the lake is on by default", s.conditions)
	}
	for id, r := range s.doc["Resources"].(map[string]any) {
		if !strings.HasPrefix(id, "Lake") {
			continue
		}
		cond, _ := r.(map[string]any)["Condition"].(string)
		if cond != "UseLake" && cond != "CreateLakeBucket" {
			t.Errorf("%s has condition %q, want UseLake or CreateLakeBucket", id, cond)
		}
	}
	if !s.conditions["UseDatabase"] {
		t.Error("PostgreSQL is off by default")
	}
}

// rules evaluates the template's Rules for the parameter values and
// returns the descriptions of the assertions that fail.
func rules(t *testing.T, overrides map[string]any) []string {
	t.Helper()
	s := mustLoad(t, overrides)
	var failed []string
	for name, r := range s.doc["Rules"].(map[string]any) {
		rule := r.(map[string]any)
		if c, ok := rule["RuleCondition"]; ok && c != true {
			continue
		}
		for _, a := range rule["Assertions"].([]any) {
			a := a.(map[string]any)
			if a["Assert"] != true {
				failed = append(failed, fmt.Sprintf("%s: %s", name, a["AssertDescription"]))
			}
		}
	}
	slices.Sort(failed)
	return failed
}

func TestRulesRequireASinkAndItsSettings(t *testing.T) {
	cases := []struct {
		name      string
		overrides map[string]any
		fails     []string
	}{
		{"PostgreSQL", nil, nil},
		{"both", withLake, nil},
		{"lake only", map[string]any{"LakeEnabled": "true", "DatabaseEnabled": "false", "DatabaseUrlCiphertext": ""}, nil},
		{"no URL", map[string]any{"DatabaseUrlCiphertext": ""}, []string{"DatabaseNeedsItsUrl: DatabaseEnabled=true needs DatabaseUrlCiphertext."}},
		{"no sink", map[string]any{"DatabaseEnabled": "false"}, []string{"SomewhereToLoad: Enable PostgreSQL (DatabaseEnabled), the lake (LakeEnabled) or both."}},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			if got := rules(t, tc.overrides); !slices.Equal(got, tc.fails) {
				t.Errorf("failing rules %v, want %v", got, tc.fails)
			}
		})
	}
}

func TestLakeBucket(t *testing.T) {
	s := mustLoad(t, withLake)
	b, err := s.tpl.GetS3BucketWithName("LakeBucket")
	if err != nil {
		t.Fatal(err)
	}
	if b.AWSCloudFormationCondition != "CreateLakeBucket" || b.AWSCloudFormationDeletionPolicy != policies.DeletionPolicy("Retain") {
		t.Errorf("condition %q deletion %q, want CreateLakeBucket and Retain", b.AWSCloudFormationCondition, b.AWSCloudFormationDeletionPolicy)
	}
	enc := b.BucketEncryption
	if enc == nil || len(enc.ServerSideEncryptionConfiguration) != 1 || enc.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault == nil ||
		enc.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm != "AES256" {
		t.Errorf("encryption %s, want SSE-S3", show(enc))
	}
	pab := b.PublicAccessBlockConfiguration
	if pab == nil || !*pab.BlockPublicAcls || !*pab.BlockPublicPolicy || !*pab.IgnorePublicAcls || !*pab.RestrictPublicBuckets {
		t.Errorf("public access block %s, want all four on", show(pab))
	}
	if v := b.VersioningConfiguration; v == nil || v.Status != "Enabled" {
		t.Errorf("versioning %s, want Enabled", show(v))
	}
	rules := map[string]bool{}
	for _, r := range b.LifecycleConfiguration.Rules {
		switch {
		case ptrString(r.Prefix) == "athena-results/" && r.ExpirationInDays != nil && *r.ExpirationInDays <= 30:
			rules["athena results expire"] = true
		case r.Prefix == nil && r.NoncurrentVersionExpiration != nil && r.NoncurrentVersionExpiration.NoncurrentDays <= 90:
			rules["noncurrent versions expire"] = true
		}
		if r.Status != "Enabled" {
			t.Errorf("rule %s is %s", ptrString(r.Id), r.Status)
		}
	}
	if len(rules) != 2 {
		t.Errorf("lifecycle %s, want Athena results and noncurrent versions to expire", show(b.LifecycleConfiguration))
	}

	p, err := s.tpl.GetS3BucketPolicyWithName("LakeBucketPolicy")
	if err != nil {
		t.Fatal(err)
	}
	stmts := statementsIn(p.PolicyDocument)
	want := map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}
	if len(stmts) != 1 || stmts[0]["Effect"] != "Deny" || stmts[0]["Principal"] != "*" || !slices.Equal(strs(stmts[0]["Action"]), []string{"s3:*"}) ||
		!reflect.DeepEqual(stmts[0]["Condition"], want) {
		t.Fatalf("bucket policy %s, want one Deny of s3:* over plain HTTP", show(stmts))
	}
	if got := strs(stmts[0]["Resource"]); len(got) != 2 || s.resolve(t, got[0]) != "<LakeBucket.Arn>" || s.resolve(t, got[1]) != "<LakeBucket.Arn>/*" {
		t.Errorf("denied on %v, want the bucket and its objects", got)
	}
	if own := mustLoad(t, map[string]any{"LakeEnabled": "true", "LakeBucketName": "acme-markets"}); own.conditions["CreateLakeBucket"] {
		t.Error("a bucket is made although LakeBucketName names one")
	}
}

func TestLakeWorkGroup(t *testing.T) {
	s := mustLoad(t, map[string]any{"LakeEnabled": "true", "AthenaBytesScannedCutoff": 50_000_000})
	wg, err := s.tpl.GetAthenaWorkGroupWithName("LakeWorkGroup")
	if err != nil {
		t.Fatal(err)
	}
	c := wg.WorkGroupConfiguration
	if c == nil || c.EnforceWorkGroupConfiguration == nil || !*c.EnforceWorkGroupConfiguration {
		t.Fatalf("configuration %s, want it enforced (no client may choose another result location)", show(c))
	}
	if c.BytesScannedCutoffPerQuery == nil || *c.BytesScannedCutoffPerQuery != 50_000_000 {
		t.Errorf("BytesScannedCutoffPerQuery %s, want the AthenaBytesScannedCutoff parameter", show(c.BytesScannedCutoffPerQuery))
	}
	rc := c.ResultConfiguration
	if rc == nil || s.resolve(t, ptrString(rc.OutputLocation)) != "s3://<LakeBucket>/athena-results/" {
		t.Errorf("results %s, want s3://<LakeBucket>/athena-results/ (the lifecycle rule's prefix)", show(rc))
	}
	if rc == nil || rc.EncryptionConfiguration == nil || rc.EncryptionConfiguration.EncryptionOption != "SSE_S3" {
		t.Errorf("results encryption %s, want SSE_S3", show(rc))
	}
}

func TestLakePermissions(t *testing.T) {
	cases := []struct {
		name      string
		overrides map[string]any
		bucket    string // as resolved
		prefix    string
	}{
		{"bucket made here", withLake, "<LakeBucket.Arn>", "lake"},
		{"bucket of ours", map[string]any{"LakeEnabled": "true", "LakeBucketName": "acme-markets", "LakePrefix": "prod/lake"},
			"arn:<AWS::Partition>:s3:::acme-markets", "prod/lake"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			objects := tc.bucket + "/" + tc.prefix + "/*"
			if strings.HasPrefix(tc.bucket, "<") {
				objects = "arn:<AWS::Partition>:s3:::<LakeBucket>/" + tc.prefix + "/*"
			}
			got := s3Permissions(t, s, "EtlRole", tc.prefix)
			want := map[string][]string{"s3:GetObject": {objects}, "s3:PutObject": {objects}, "s3:ListBucket": {tc.bucket}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the ETL may %v, want exactly %v", got, want)
			}

			p, err := s.tpl.GetIAMManagedPolicyWithName("LakeAnalystPolicy")
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range statementsIn(p.PolicyDocument) {
				for _, a := range strs(st["Action"]) {
					if strings.Contains(a, "Put") && !slices.ContainsFunc(strs(st["Resource"]), func(r string) bool {
						return strings.HasSuffix(s.resolve(t, r), "/athena-results/*")
					}) {
						t.Errorf("the analyst policy allows %s outside the Athena results", a)
					}
					if strings.HasPrefix(a, "glue:") && !strings.HasPrefix(a, "glue:Get") {
						t.Errorf("the analyst policy allows %s: not read-only", a)
					}
				}
			}
		})
	}
	if _, err := mustLoad(t, nil).tpl.GetIAMManagedPolicyWithName("LakeAnalystPolicy"); err != nil {
		t.Fatal(err)
	}
	for _, st := range roleStatements(t, mustLoad(t, nil), "EtlRole") {
		if slices.ContainsFunc(strs(st["Action"]), func(a string) bool { return strings.HasPrefix(a, "s3:") }) {
			t.Errorf("without the lake the ETL still has %s", show(st))
		}
	}
}

// s3Permissions returns the S3 actions role may take, each with its resources
// as resolved, and checks that listing is limited to prefix.
func s3Permissions(t *testing.T, s *stack, role, prefix string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, st := range roleStatements(t, s, role) {
		for _, a := range strs(st["Action"]) {
			if !strings.HasPrefix(a, "s3:") {
				continue
			}
			for _, r := range strs(st["Resource"]) {
				got[a] = append(got[a], s.resolve(t, r))
			}
			if a == "s3:ListBucket" {
				cond, _ := st["Condition"].(map[string]any)
				like, _ := cond["StringLike"].(map[string]any)
				if p := strs(like["s3:prefix"]); len(p) != 1 || s.resolve(t, p[0]) != prefix+"/*" {
					t.Errorf("%s: ListBucket condition %s, want s3:prefix %s/*", role, show(cond), prefix)
				}
			}
		}
	}
	return got
}

// TestApiReadsTheLake: without a database of its own, the read API reads the
// lake (LAKE_URL) and may get and list its objects, nothing else in S3.
func TestApiReadsTheLake(t *testing.T) {
	objects := "arn:<AWS::Partition>:s3:::<LakeBucket>/lake/*"
	cases := []struct {
		name      string
		overrides map[string]any
		reads     bool
	}{
		{"no lake", nil, false},
		{"the lake and no API database", withLake, true},
		{"the lake and an API database", map[string]any{"LakeEnabled": "true", "ApiDatabaseUrlCiphertext": apiCiphertext}, false},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			got := s3Permissions(t, s, "ApiRole", "lake")
			want := map[string][]string{}
			if tc.reads {
				want = map[string][]string{"s3:GetObject": {objects}, "s3:ListBucket": {"<LakeBucket.Arn>"}}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the API may %v, want exactly %v", got, want)
			}
			fn := s.mustFunction(t, "ApiFunction")
			lakeURL, ok := fn.Environment.Variables["LAKE_URL"]
			switch {
			case tc.reads && (!ok || s.resolve(t, lakeURL) != "s3://<LakeBucket>/lake"):
				t.Errorf("LAKE_URL %q (set %t), want s3://<LakeBucket>/lake", lakeURL, ok)
			case !tc.reads && ok:
				t.Errorf("LAKE_URL %q, want none", lakeURL)
			}
		})
	}
}
