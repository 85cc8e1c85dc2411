// Package lake is the markets ETL's S3 sink (SPEC §7): each series' rows as
// Parquet, one object per series and year under s3://BUCKET/PREFIX, typed
// and laid out so that Athena reads them through the Glue tables of the
// stack (partition projection on year, no crawler). It upserts like the
// PostgreSQL warehouse (merge by the table's key, unchanged objects are not
// rewritten, concurrent writers lose nothing thanks to S3's conditional
// writes), reads the newest rows and a series' history back for the read
// API, and checks that a lake follows the layout.
//
// It depends on the domain (internal/markets) only; the S3 client comes from
// the AWS SDK's standard configuration (AWS_REGION, AWS_ENDPOINT_URL_S3, …).
package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Lake is one lake: a bucket and a prefix. It is safe for concurrent use.
type Lake struct {
	client *s3.Client
	bucket string
	prefix string // without a trailing slash
	opts   options

	mu    sync.Mutex
	known map[string]string // series known to be in the markets object: dataset NUL ticker -> description
}

// options are what an Option sets.
type options struct {
	logger *slog.Logger
}

// Limits of one call.
const (
	// concurrency is how many objects one call reads or writes at once.
	concurrency = 8
	// conflictAttempts is how many times an upsert reads, merges and writes
	// one object when another writer changed it in between.
	conflictAttempts = 16
)

// Option changes a default of Open.
type Option func(*options)

// WithLogger logs write conflicts (at DEBUG) to l; the default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// ErrInvalidURL is matched (errors.Is) by the error Open and ParseURL return
// for a malformed lake URL.
var ErrInvalidURL = errors.New("invalid lake URL")

// ParseURL splits a lake URL, s3://BUCKET/PREFIX, into its bucket and prefix
// (without leading or trailing slashes). The bucket must be a valid S3
// bucket name; the prefix is required and is made of path segments of
// letters, digits and - _ . (not . or .. alone).
func ParseURL(raw string) (bucket, prefix string, err error) {
	fail := func(format string, args ...any) (string, string, error) {
		return "", "", fmt.Errorf("%w %q: %s (want s3://BUCKET/PREFIX)", ErrInvalidURL, raw, fmt.Sprintf(format, args...))
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return fail("not a URL")
	}
	switch {
	case u.Scheme != "s3":
		return fail("the scheme is %q, not s3", u.Scheme)
	case u.Opaque != "":
		return fail("no // after s3:")
	case u.User != nil:
		return fail("it has a user")
	case u.Port() != "":
		return fail("it has a port")
	case u.RawQuery != "" || u.ForceQuery:
		return fail("it has a query")
	case u.Fragment != "":
		return fail("it has a fragment")
	}
	if err := checkBucket(u.Hostname()); err != nil {
		return fail("%v", err)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix == "" {
		return fail("it has no prefix")
	}
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fail("prefix segment %q is empty, . or ..", seg)
		}
		for _, r := range seg {
			if !isUnreserved(r) && r != '.' {
				return fail("prefix %q has %q: use letters, digits, - _ . and /", prefix, r)
			}
		}
	}
	return u.Hostname(), prefix, nil
}

// checkBucket applies S3's rules for general purpose bucket names.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q must be 3 to 63 characters long", b)
	}
	for _, r := range b {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '.' {
			return fmt.Errorf("bucket %q may hold only lower-case letters, digits, hyphens and dots", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("bucket %q must begin and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") || net.ParseIP(b) != nil {
		return fmt.Errorf("bucket %q has two adjacent dots or is an IP address", b)
	}
	return nil
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// Open returns the lake at lakeURL (s3://BUCKET/PREFIX), with an S3 client
// made from the SDK's standard configuration: region, credentials and
// endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) as for every other
// client. Against an endpoint whose host is an IP address or localhost (an
// emulator) it addresses buckets path-style. It checks that the bucket
// answers by listing one key under the prefix.
func Open(ctx context.Context, lakeURL string, opts ...Option) (*Lake, error) {
	bucket, prefix, err := ParseURL(lakeURL)
	if err != nil {
		return nil, err
	}
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("open lake %s: AWS configuration: %w", lakeURL, err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		// Whether an emulator sends checksums is no business of the lake's logs.
		so.DisableLogOutputChecksumValidationSkipped = true
		if so.BaseEndpoint != nil && isLocalEndpoint(*so.BaseEndpoint) {
			so.UsePathStyle = true
		}
	})
	l := &Lake{client: client, bucket: bucket, prefix: prefix, opts: o, known: map[string]string{}}
	if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/"), MaxKeys: aws.Int32(1),
	}); err != nil {
		return nil, fmt.Errorf("open lake %s: %w", lakeURL, describe(err, bucket, prefix+"/"))
	}
	return l, nil
}

// isLocalEndpoint reports whether an endpoint URL's host is an IP address or
// localhost, where virtual-hosted bucket names cannot resolve.
func isLocalEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return net.ParseIP(h) != nil || h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// URL returns the lake's URL, s3://BUCKET/PREFIX.
func (l *Lake) URL() string { return "s3://" + l.bucket + "/" + l.prefix }

// String returns the lake's URL.
func (l *Lake) String() string { return l.URL() }
