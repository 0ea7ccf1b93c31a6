package backup

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Defaults for S3Config's zero values.
const (
	DefaultS3Endpoint = "https://s3.amazonaws.com"
	// DefaultPartSize is the multipart upload's part size: the memory one
	// upload holds.
	DefaultPartSize = 16 << 20
	minPartSize     = 5 << 20
)

// S3Config configures an S3Target.
type S3Config struct {
	// Bucket holds the backups, under Prefix ("" for the bucket's root).
	// Bucket is required.
	Bucket, Prefix string
	// Endpoint is the service's URL. Default: $AWS_ENDPOINT_URL_S3, then
	// $AWS_ENDPOINT_URL, then DefaultS3Endpoint.
	Endpoint string
	// Region. Default: $AWS_REGION, then $AWS_DEFAULT_REGION, then the
	// service's answer.
	Region string
	// Credentials. Default: from the standard environment (AWS_ACCESS_KEY_ID
	// and AWS_SECRET_ACCESS_KEY, or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD),
	// then the shared AWS credentials file, then the instance's IAM role.
	// Never logged.
	Credentials *credentials.Credentials
	// PartSize is the size of each part of a multipart upload; a body
	// larger than one part is uploaded in parts, holding one part in
	// memory. Default: DefaultPartSize; at least 5 MiB.
	PartSize uint64
	// Transport is the HTTP transport. Default: minio's.
	Transport http.RoundTripper
}

// S3Target keeps backups in S3-compatible object storage, as objects
// "PREFIX/NAME/manifest.json" and "PREFIX/NAME/state.zst".
type S3Target struct {
	client   *minio.Client
	bucket   string
	prefix   string
	partSize uint64
	where    string
}

var _ Target = (*S3Target)(nil)

// NewS3Target returns the target of cfg. It does not contact the service.
func NewS3Target(cfg S3Config) (*S3Target, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("%w: S3 target needs a bucket (s3://BUCKET/PREFIX)", ErrInvalid)
	}
	endpoint := cmpOr(cfg.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"), DefaultS3Endpoint)
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: S3 endpoint %q: want http(s)://HOST[:PORT]", ErrInvalid, endpoint)
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < minPartSize {
		return nil, fmt.Errorf("%w: S3 part size %d: at least 5 MiB", ErrInvalid, partSize)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:     creds,
		Secure:    u.Scheme == "https",
		Region:    cmpOr(cfg.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("backup: S3 client: %w", err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	return &S3Target{
		client: client, bucket: cfg.Bucket, prefix: prefix, partSize: partSize,
		where: "s3://" + path.Join(cfg.Bucket, prefix) + " at " + u.Host,
	}, nil
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *S3Target) String() string { return s.where }

func (s *S3Target) object(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// Put implements Target: a multipart upload of unknown size, one part in
// memory at a time; S3 makes the object visible only once it completes.
func (s *S3Target) Put(ctx context.Context, key string, r io.Reader) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), r, -1, minio.PutObjectOptions{
		PartSize: s.partSize, NumThreads: 1, ContentType: "application/octet-stream",
		// Over plain HTTP minio would otherwise sign the payload in
		// aws-chunked form, which not every S3-compatible server decodes;
		// the backup's own SHA-256 sums guard the bytes.
		DisableContentSha256: true,
	})
	if err != nil {
		return fmt.Errorf("backup: put %s in %s: %w", key, s.where, err)
	}
	return nil
}

// Get implements Target.
func (s *S3Target) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err == nil {
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		if code := minio.ToErrorResponse(err).Code; code == minio.NoSuchKey || code == "NotFound" {
			return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, key, s.where)
		}
		return nil, fmt.Errorf("backup: get %s from %s: %w", key, s.where, err)
	}
	return obj, nil
}

// List implements Target.
func (s *S3Target) List(ctx context.Context) ([]string, error) {
	prefix := s.object("")
	seen := map[string]bool{}
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("backup: list %s: %w", s.where, obj.Err)
		}
		name, _, ok := strings.Cut(strings.TrimPrefix(obj.Key, prefix), "/")
		if ok && ValidName(name) {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// Delete implements Target: the manifest first, so that a backup is never
// listed without its body.
func (s *S3Target) Delete(ctx context.Context, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: backup name %q", ErrInvalid, name)
	}
	for _, key := range []string{ManifestObject, BodyObject} {
		if err := s.client.RemoveObject(ctx, s.bucket, s.object(name+"/"+key), minio.RemoveObjectOptions{}); err != nil &&
			minio.ToErrorResponse(err).Code != minio.NoSuchKey {
			return fmt.Errorf("backup: delete %s/%s in %s: %w", name, key, s.where, err)
		}
	}
	return nil
}
