package stack_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// The read API (SPEC §8, cmd/api): its function URL, environment and
// permissions under each combination of parameters that changes them.

const apiCiphertext = "AQICAHhapidatabaseurlciphertext=="

func TestApiFunctionURL(t *testing.T) {
	const ui = "https://reports.example.com"
	cases := []struct {
		name      string
		overrides map[string]any
		origins   []string // nil: no CORS
	}{
		{"no origins: no CORS", nil, nil},
		{"the UI's origin", map[string]any{"ApiAllowOrigins": ui}, []string{ui}},
		{"two origins", map[string]any{"ApiAllowOrigins": ui + ",http://localhost:5173"}, []string{ui, "http://localhost:5173"}},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			fn := s.mustFunction(t, "ApiFunction")
			u := fn.FunctionUrlConfig
			if u == nil || u.AuthType != "AWS_IAM" {
				t.Fatalf("FunctionUrlConfig %s, want AuthType AWS_IAM", show(u))
			}
			// lambdaurl answers in the streaming response format only.
			if u.InvokeMode == nil || *u.InvokeMode != "RESPONSE_STREAM" {
				t.Errorf("InvokeMode %s, want RESPONSE_STREAM (what aws-lambda-go's lambdaurl answers)", show(u.InvokeMode))
			}
			cors := s.urlCors["ApiFunction"]
			if tc.origins == nil {
				if cors != nil {
					t.Errorf("Cors %s, want none", show(cors))
				}
			} else if cors == nil || !slices.Equal(cors.AllowOrigins, tc.origins) || !slices.Equal(cors.AllowMethods, []string{"GET", "HEAD"}) ||
				!slices.Contains(cors.AllowHeaders, "authorization") || !slices.Contains(cors.AllowHeaders, "x-amz-security-token") ||
				!slices.Contains(cors.AllowHeaders, "if-none-match") || !slices.Equal(cors.ExposeHeaders, []string{"etag"}) ||
				(cors.AllowCredentials != nil && *cors.AllowCredentials) {
				t.Errorf("Cors %s, want origins %s, GET and HEAD, SigV4 and If-None-Match headers, ETag exposed, no credentials", show(cors), show(tc.origins))
			}
			// The URL answers CORS alone: the handler adding its own headers could double them.
			if v, ok := fn.Environment.Variables["CORS_ALLOW_ORIGIN"]; ok {
				t.Errorf("CORS_ALLOW_ORIGIN = %s, want it unset under the function URL", show(v))
			}
		})
	}
}

func TestApiEnvironment(t *testing.T) {
	params := mustLoad(t, nil).tpl.Parameters
	if p := params["ApiDatabaseUrlCiphertext"]; p.NoEcho == nil || !*p.NoEcho {
		t.Errorf("ApiDatabaseUrlCiphertext: NoEcho %s, want NoEcho", show(p.NoEcho))
	}
	base := map[string]string{"TABLE_NAME": ref("DatapointsTable")}
	withDB := maps.Clone(base)
	withDB["DATABASE_URL"] = apiCiphertext
	for i, tc := range []struct {
		name      string
		overrides map[string]any
		want      map[string]string
	}{
		{"reports only", nil, base},
		{"and the warehouse", map[string]any{"ApiDatabaseUrlCiphertext": apiCiphertext}, withDB},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			fn := mustLoad(t, tc.overrides).mustFunction(t, "ApiFunction")
			if fn.Environment == nil || !reflect.DeepEqual(fn.Environment.Variables, tc.want) {
				t.Errorf("environment %s, want %s", show(fn.Environment), show(tc.want))
			}
		})
	}
}

func TestApiVpcAndPermissions(t *testing.T) {
	const keyArn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	read := map[string][]string{
		"logs:CreateLogStream":  {getAtt("ApiLogGroup", "Arn")},
		"logs:PutLogEvents":     {getAtt("ApiLogGroup", "Arn")},
		"dynamodb:GetItem":      {getAtt("DatapointsTable", "Arn")},
		"dynamodb:BatchGetItem": {getAtt("DatapointsTable", "Arn")},
		"dynamodb:Query":        {sub("${DatapointsTable.Arn}/index/byListKey")},
	}
	vpc := vpcPermissions()
	inVpc := map[string]any{"SubnetIds": "subnet-a,subnet-b", "SecurityGroupIds": "sg-1"}
	with := func(ms ...map[string]any) map[string]any {
		out := map[string]any{}
		for _, m := range ms {
			maps.Copy(out, m)
		}
		return out
	}
	db := map[string]any{"ApiDatabaseUrlCiphertext": apiCiphertext}
	cases := []struct {
		name      string
		overrides map[string]any
		inVpc     bool
		perms     []map[string][]string
		keyPolicy bool // the key made here lets the API role decrypt
	}{
		{"reports only", nil, false, []map[string][]string{read}, false},
		{"reports only, subnets given: no VPC, DynamoDB needs none", inVpc, false, []map[string][]string{read}, false},
		{"warehouse, own key", db, false, []map[string][]string{read}, true},
		{"warehouse in a VPC", with(db, inVpc), true, []map[string][]string{read, vpc}, true},
		{"warehouse, existing key", with(db, map[string]any{"SecretsKeyArn": keyArn}), false, []map[string][]string{read, {"kms:Decrypt": {keyArn}}}, false},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			fn := s.mustFunction(t, "ApiFunction")
			if tc.inVpc {
				if fn.VpcConfig == nil || !slices.Equal(fn.VpcConfig.SubnetIds, []string{"subnet-a", "subnet-b"}) || !slices.Equal(fn.VpcConfig.SecurityGroupIds, []string{"sg-1"}) {
					t.Errorf("VpcConfig %s, want the SubnetIds and SecurityGroupIds parameters", show(fn.VpcConfig))
				}
			} else if fn.VpcConfig != nil {
				t.Errorf("VpcConfig %s, want none", show(fn.VpcConfig))
			}
			want := map[string][]string{}
			for _, p := range tc.perms {
				maps.Copy(want, p)
			}
			assertPermissions(t, s, "ApiRole", want)
			for _, st := range roleStatements(t, s, "ApiRole") {
				if slices.Contains(strs(st["Action"]), "kms:Decrypt") {
					assertEncryptionContextOf(t, s, st, "ApiFunction")
				}
			}

			// Who the key made here lets decrypt: the ETL, and the API when it has a database.
			if !s.conditions["CreateSecretsKey"] {
				return
			}
			key, err := s.tpl.GetKMSKeyWithName("SecretsKey")
			if err != nil {
				t.Fatal(err)
			}
			var decrypters []string
			for _, st := range statementsIn(key.KeyPolicy) {
				if !slices.Contains(strs(st["Action"]), "kms:Decrypt") {
					continue
				}
				p, _ := st["Principal"].(map[string]any)
				who := strs(p["AWS"])
				decrypters = append(decrypters, who...)
				if slices.Equal(who, []string{getAtt("ApiRole", "Arn")}) {
					assertEncryptionContextOf(t, s, st, "ApiFunction")
				}
			}
			wantDecrypters := []string{getAtt("EtlRole", "Arn")}
			if tc.keyPolicy {
				wantDecrypters = append(wantDecrypters, getAtt("ApiRole", "Arn"))
			}
			if !slices.Equal(decrypters, wantDecrypters) {
				t.Errorf("the key lets %s decrypt, want %s", show(decrypters), show(wantDecrypters))
			}
		})
	}
}
