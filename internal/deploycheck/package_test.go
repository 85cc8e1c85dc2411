package deploycheck_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/acmecheckout/reports/internal/testenv"
)

// transformScript is the SAM transform, relative to the module root.
const transformScript = "scripts/sam-transform.py"

// localFunction is a function of the template whose code is built from a
// local directory, as sam-transform.py --list-functions describes it.
type localFunction struct {
	LogicalID   string `json:"LogicalId"`
	CodeURI     string `json:"CodeUri"`
	BuildMethod string `json:"BuildMethod"`
}

// packagedCode is a function's code as `sam package` leaves it: a zip in S3.
type packagedCode struct {
	URI        string // s3://bucket/key, the CodeUri the transform is given
	CodeSha256 string // base64 SHA-256 of the zip, as Lambda reports it
}

// mustListFunctions returns the functions of the template with local code.
func mustListFunctions(t *testing.T, root, template string) []localFunction {
	t.Helper()
	out := mustPython(t, root, transformScript, template, "--list-functions")
	var fns []localFunction
	if err := json.Unmarshal(out, &fns); err != nil {
		t.Fatalf("%s --list-functions: %v\n%s", transformScript, err, out)
	}
	return fns
}

// mustBuildAndPackage builds every local function as `sam build` does with
// the makefile build method (make build-<LogicalId> with ARTIFACTS_DIR set, run
// in the CodeUri directory, as --build-in-source does), zips each artifacts
// directory and uploads the zip to bucket, named by its MD5 as `sam package`
// names it. It returns the packaged code by function logical id.
func mustBuildAndPackage(t *testing.T, c *clients, root, template, bucket string) map[string]packagedCode {
	t.Helper()
	ctx := context.Background()
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	code := map[string]packagedCode{}
	for _, fn := range mustListFunctions(t, root, template) {
		if fn.BuildMethod != "makefile" {
			t.Fatalf("%s: BuildMethod %q; the rehearsal builds only `BuildMethod: makefile` functions (add a build-%s target and that metadata)", fn.LogicalID, fn.BuildMethod, fn.LogicalID)
		}
		artifacts := t.TempDir()
		start := time.Now()
		cmd := exec.Command("make", "--no-print-directory", "-C", filepath.Join(filepath.Dir(template), fn.CodeURI), "build-"+fn.LogicalID)
		cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", fn.LogicalID, err, out)
		}
		zipped := mustZip(t, artifacts)
		sum := md5.Sum(zipped)
		key := hex.EncodeToString(sum[:])
		if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(zipped)}); err != nil {
			t.Fatalf("upload %s code: %v", fn.LogicalID, err)
		}
		sha := sha256.Sum256(zipped)
		code[fn.LogicalID] = packagedCode{URI: "s3://" + bucket + "/" + key, CodeSha256: base64.StdEncoding.EncodeToString(sha[:])}
		t.Logf("built and packaged %s in %s: %d bytes, s3://%s/%s", fn.LogicalID, time.Since(start).Round(time.Millisecond), len(zipped), bucket, key)
	}
	return code
}

// mustZip zips the files under dir, keeping their modes (the bootstrap
// binary stays executable).
func mustZip(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h.Name, h.Method = filepath.ToSlash(rel), zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("zip %s: %v", dir, err)
	}
	if buf.Len() == 0 {
		t.Fatalf("zip %s: no artifacts", dir)
	}
	return buf.Bytes()
}

// mustTransform runs the SAM transform on the template with the parameter
// values and the packaged code, and returns the CloudFormation template.
func mustTransform(t *testing.T, root, template string, params map[string]string, code map[string]packagedCode) map[string]any {
	t.Helper()
	args := []string{transformScript, template, "--region", region}
	for _, k := range sortedKeys(params) {
		args = append(args, "--param", k+"="+params[k])
	}
	for _, k := range sortedKeys(code) {
		args = append(args, "--code", k+"="+code[k].URI)
	}
	out := mustPython(t, root, args...)
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatalf("transformed template: %v", err)
	}
	return tpl
}

// mustPython runs python3 with args in dir and returns its standard output;
// a failure shows its standard error.
func mustPython(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("python3", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// requireTools checks the rehearsal has make, and python3 with what
// sam-transform.py imports.
func requireTools(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		testenv.Missing(t, "python3", err)
	}
	if out, err := exec.Command("python3", "-c", "import samtranslator, boto3").CombinedOutput(); err != nil {
		testenv.Missing(t, "aws-sam-translator (Python: pip install aws-sam-translator)", fmt.Errorf("%w: %s", err, bytes.TrimSpace(out)))
	}
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Missing(t, "make", err)
	}
}
