package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// location is the "bucket/path" of ON S3.
type location struct{ Bucket, Path string }

func (l location) String() string {
	if l.Path == "" {
		return l.Bucket
	}
	return l.Bucket + "/" + l.Path
}

func parseLocation(s string) (location, error) {
	parts := strings.Split(strings.Trim(s, "/"), "/")
	l := location{Bucket: parts[0], Path: strings.Join(parts[1:], "/")}
	if !bucketPattern.MatchString(l.Bucket) {
		return l, fmt.Errorf("ON S3 %q: invalid bucket name %q", s, l.Bucket)
	}
	for _, seg := range parts[1:] {
		if !pathSegmentPattern.MatchString(seg) {
			return l, fmt.Errorf("ON S3 %q: invalid path segment %q (must match %s)", s, seg, pathSegmentPattern)
		}
	}
	return l, nil
}

// s3Config is SingleStore's CONFIG JSON for S3 and S3-compatible stores.
type s3Config struct {
	Region               string    `json:"region"`
	EndpointURL          string    `json:"endpoint_url"`
	ForcePathStyle       flexBool  `json:"s3_force_path_style"`
	MultipartChunkSizeMB *int      `json:"multipart_chunk_size_mb"` // accepted, not needed here
	VerifySSL            *flexBool `json:"verify_ssl"`
}

// s3Credentials is SingleStore's CREDENTIALS JSON.
type s3Credentials struct {
	AccessKeyID     string `json:"aws_access_key_id"`
	SecretAccessKey string `json:"aws_secret_access_key"`
	SessionToken    string `json:"aws_session_token"`
}

// flexBool accepts "true"/"false" (SingleStore's documented form) and JSON booleans.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	switch strings.ToLower(s) {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return fmt.Errorf("want \"true\" or \"false\", got %s", data)
	}
	return nil
}

// decodeStrict decodes one JSON object and rejects unknown keys and trailing data, so that a
// typo in CONFIG or CREDENTIALS is an error instead of a silently ignored setting.
func decodeStrict(what, text string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s is not valid: %w", what, err)
	}
	if dec.More() {
		return fmt.Errorf("%s is not valid: trailing data after the JSON object", what)
	}
	return nil
}

// s3Target is everything needed to reach a database's location; it is what the server
// remembers about an attached database.
type s3Target struct {
	Location    string         `json:"location"`
	Config      *s3Config      `json:"config,omitempty"`
	Credentials *s3Credentials `json:"credentials"`
}

// parseS3Target validates the location, CONFIG and CREDENTIALS of a statement.
func parseS3Target(loc string, cfg, creds *string) (s3Target, location, error) {
	t := s3Target{Location: loc}
	l, err := parseLocation(loc)
	if err != nil {
		return t, l, err
	}
	if cfg != nil {
		t.Config = &s3Config{}
		if err := decodeStrict("CONFIG", *cfg, t.Config); err != nil {
			return t, l, err
		}
		if t.Config.EndpointURL != "" && !strings.HasPrefix(t.Config.EndpointURL, "http://") && !strings.HasPrefix(t.Config.EndpointURL, "https://") {
			return t, l, fmt.Errorf("CONFIG endpoint_url %q: want http:// or https://", t.Config.EndpointURL)
		}
	}
	if creds == nil {
		return t, l, fmt.Errorf("CREDENTIALS '{\"aws_access_key_id\": …, \"aws_secret_access_key\": …}' is required")
	}
	t.Credentials = &s3Credentials{}
	if err := decodeStrict("CREDENTIALS", *creds, t.Credentials); err != nil {
		return t, l, err
	}
	if t.Credentials.AccessKeyID == "" || t.Credentials.SecretAccessKey == "" {
		return t, l, fmt.Errorf("CREDENTIALS needs aws_access_key_id and aws_secret_access_key")
	}
	return t, l, nil
}

// client builds the S3 client of a target.
func (t s3Target) client() *s3.Client {
	o := s3.Options{
		Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(
			t.Credentials.AccessKeyID, t.Credentials.SecretAccessKey, t.Credentials.SessionToken),
	}
	if c := t.Config; c != nil {
		if c.Region != "" {
			o.Region = c.Region
		}
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
		o.UsePathStyle = bool(c.ForcePathStyle)
	}
	return s3.New(o)
}
