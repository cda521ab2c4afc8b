package stack

import (
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is a running goaws server (an SQS-compatible server written in Go) holding one queue:
// where AWS S3 would send a bucket's event notifications for the worker to read
// (replication.notifications_sqs).
//
// goaws v0.4.5, the newest the module proxy serves, speaks only SQS's query protocol (form
// posts, XML answers); aws-sdk-go-v2's sqs client speaks only the AWS JSON 1.0 protocol that
// SQS has served since November 2023. Endpoint is therefore a small translator in this
// process (sqsJSON) in front of goaws: JSON requests of the operations the worker and the
// tests use become goaws's form posts, and its XML answers JSON. The queue itself (long
// polls, receipts, visibility, deletes) is goaws's.
type SQS struct {
	// Endpoint is where SQS clients send requests (http://127.0.0.1:PORT, the translator);
	// the credentials are checked by neither goaws nor the translator.
	Endpoint string
	QueueURL string
	// Region, AccessKey and SecretKey are what a client signs with.
	Region, AccessKey, SecretKey string
	proc                         *Process
	shim                         *http.Server
}

// sqsAccount is the account ID in goaws's queue URLs and ARNs.
const sqsAccount = "100010001000"

// StartGoAWS starts goaws on a free port with one queue called queue (its config file in
// dir), and the JSON translator in front of it. goaws listens on every interface: v0.4.5
// takes no address, only a port.
func StartGoAWS(ctx context.Context, dir, queue string, logw io.Writer) (*SQS, error) {
	bin, err := EnsureBinary(ctx, "goaws", GoAWSModule)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("goaws dir: %w", err)
	}
	// goaws reads one environment ("Local") of a YAML file. Messages become visible again
	// 30 s after a receive that did not delete them, as SQS's default.
	conf := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: %d
  Region: ""
  AccountId: %q
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
  Queues:
    - Name: %s
`, port, sqsAccount, queue)
	confPath := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("goaws config: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startProcess("goaws "+addr, bin, []string{"-config", confPath}, nil, logw)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+addr+"/health", 30*time.Second); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("%w; its last output:\n%s", err, p.tail)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("sqs translator: %w", err)
	}
	shim := &http.Server{Handler: &sqsJSON{goaws: "http://" + addr + "/"}, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: log.New(logw, "sqs translator: ", log.LstdFlags)}
	go func() { _ = shim.Serve(l) }()
	return &SQS{
		Endpoint: "http://" + l.Addr().String(),
		QueueURL: fmt.Sprintf("http://%s/%s/%s", addr, sqsAccount, queue),
		Region:   "us-east-1", AccessKey: "bdr" + randomHex(6), SecretKey: randomHex(20),
		proc: p, shim: shim,
	}, nil
}

// NewGoAWS starts goaws for a test in a temporary directory and stops it at cleanup.
func NewGoAWS(t testing.TB, queue string) *SQS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q, err := StartGoAWS(ctx, t.TempDir(), queue, testLogWriter(t, "goaws"))
	if err != nil {
		t.Fatalf("start goaws: %v", err)
	}
	t.Cleanup(func() { _ = q.Stop() })
	return q
}

// Client returns an SQS client of the queue's server, for tests that send what AWS S3 would
// or look at the queue.
func (q *SQS) Client() *sqs.Client {
	return sqs.New(sqs.Options{
		BaseEndpoint: aws.String(q.Endpoint),
		Region:       q.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(q.AccessKey, q.SecretKey, ""),
	})
}

// Messages returns how many messages the queue holds, in flight (received, not deleted) or
// not: goaws's ApproximateNumberOfMessages counts both, where SQS's counts the visible ones.
func (q *SQS) Messages(ctx context.Context) (int, error) {
	out, err := q.Client().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.QueueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, fmt.Errorf("sqs: queue attributes: %w", err)
	}
	return strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
}

// Stop ends goaws and the translator; the queue's messages are lost (goaws keeps them in
// memory).
func (q *SQS) Stop() error {
	if q == nil {
		return nil
	}
	_ = q.shim.Close()
	return q.proc.Stop()
}

// sqsJSON serves SQS's AWS JSON 1.0 protocol (POST /, X-Amz-Target: AmazonSQS.<operation>, a
// JSON body) by posting each request to goaws in the query protocol (Action=<operation>,
// the fields as form values) and answering its XML in JSON. It knows the operations that
// the worker and the tests use; any other is answered UnsupportedOperation.
type sqsJSON struct{ goaws string }

// sqsListField is the query protocol's name of a list's members, by JSON field; Entries'
// depends on the operation (DeleteMessageBatchRequestEntry.1.Id, …).
var sqsListField = map[string]string{"AttributeNames": "AttributeName", "MessageAttributeNames": "MessageAttributeName",
	"MessageSystemAttributeNames": "MessageSystemAttributeName"}

func (s *sqsJSON) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	convert, known := sqsAnswers[op]
	if !ok || !known {
		sqsJSONError(w, http.StatusBadRequest, "UnsupportedOperation", "the test translator does not know "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		sqsJSONError(w, http.StatusBadRequest, "InvalidParameterValue", "body: "+err.Error())
		return
	}
	form := url.Values{"Action": {op}}
	for k, v := range in {
		switch v := v.(type) {
		case []any:
			name := sqsListField[k]
			if k == "Entries" {
				name = op + "RequestEntry"
			}
			for i, e := range v {
				switch e := e.(type) {
				case map[string]any:
					for f, fv := range e {
						form.Set(fmt.Sprintf("%s.%d.%s", name, i+1, f), fmt.Sprint(fv))
					}
				default:
					form.Set(fmt.Sprintf("%s.%d", name, i+1), fmt.Sprint(e))
				}
			}
		case map[string]any: // Attributes of CreateQueue, SetQueueAttributes
			keys := make([]string, 0, len(v))
			for a := range v {
				keys = append(keys, a)
			}
			sort.Strings(keys)
			for i, a := range keys {
				form.Set(fmt.Sprintf("Attribute.%d.Name", i+1), a)
				form.Set(fmt.Sprintf("Attribute.%d.Value", i+1), fmt.Sprint(v[a]))
			}
		default:
			form.Set(k, fmt.Sprint(v))
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.goaws, strings.NewReader(form.Encode()))
	if err != nil {
		sqsJSONError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		sqsJSONError(w, http.StatusBadGateway, "ServiceUnavailable", "goaws: "+err.Error())
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		sqsJSONError(w, http.StatusBadGateway, "ServiceUnavailable", "goaws: "+err.Error())
		return
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		_ = xml.Unmarshal(body, &e)
		code := strings.TrimPrefix(e.Code, "AWS.SimpleQueueService.")
		if code == "NonExistentQueue" {
			code = "QueueDoesNotExist"
		}
		sqsJSONError(w, resp.StatusCode, cmp.Or(code, "InternalError"), cmp.Or(e.Message, strings.TrimSpace(string(body))))
		return
	}
	out, err := convert(body)
	if err != nil {
		sqsJSONError(w, http.StatusBadGateway, "InternalError", "goaws's answer to "+op+": "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

// sqsJSONError answers an error as SQS's JSON protocol does.
func sqsJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": message})
}

// sqsAttr is a name and value of goaws's XML answers.
type sqsAttr struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

func sqsAttrs(as []sqsAttr) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		m[a.Name] = a.Value
	}
	return m
}

// sqsAnswers converts goaws's XML answer of each known operation to SQS's JSON one.
var sqsAnswers = map[string]func([]byte) (any, error){
	"ReceiveMessage": func(b []byte) (any, error) {
		var x struct {
			Messages []struct {
				MessageID     string    `xml:"MessageId"`
				ReceiptHandle string    `xml:"ReceiptHandle"`
				MD5OfBody     string    `xml:"MD5OfBody"`
				Body          string    `xml:"Body"`
				Attributes    []sqsAttr `xml:"Attribute"`
			} `xml:"ReceiveMessageResult>Message"`
		}
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, err
		}
		msgs := []map[string]any{}
		for _, m := range x.Messages {
			msgs = append(msgs, map[string]any{"MessageId": m.MessageID, "ReceiptHandle": m.ReceiptHandle,
				"MD5OfBody": m.MD5OfBody, "Body": m.Body, "Attributes": sqsAttrs(m.Attributes)})
		}
		return map[string]any{"Messages": msgs}, nil
	},
	"DeleteMessageBatch": func(b []byte) (any, error) {
		var x struct {
			Successful []struct {
				ID string `xml:"Id"`
			} `xml:"DeleteMessageBatchResult>DeleteMessageBatchResultEntry"`
			Failed []struct {
				ID          string `xml:"Id"`
				Code        string `xml:"Code"`
				Message     string `xml:"Message"`
				SenderFault bool   `xml:"SenderFault"`
			} `xml:"DeleteMessageBatchResult>BatchResultErrorEntry"`
		}
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, err
		}
		ok, failed := []map[string]any{}, []map[string]any{}
		for _, e := range x.Successful {
			ok = append(ok, map[string]any{"Id": e.ID})
		}
		for _, e := range x.Failed {
			failed = append(failed, map[string]any{"Id": e.ID, "Code": e.Code, "Message": e.Message, "SenderFault": e.SenderFault})
		}
		return map[string]any{"Successful": ok, "Failed": failed}, nil
	},
	"SendMessage": func(b []byte) (any, error) {
		var x struct {
			MessageID string `xml:"SendMessageResult>MessageId"`
			MD5       string `xml:"SendMessageResult>MD5OfMessageBody"`
		}
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, err
		}
		return map[string]any{"MessageId": x.MessageID, "MD5OfMessageBody": x.MD5}, nil
	},
	"GetQueueAttributes": func(b []byte) (any, error) {
		var x struct {
			Attributes []sqsAttr `xml:"GetQueueAttributesResult>Attribute"`
		}
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, err
		}
		return map[string]any{"Attributes": sqsAttrs(x.Attributes)}, nil
	},
	"GetQueueUrl": func(b []byte) (any, error) {
		var x struct {
			QueueURL string `xml:"GetQueueUrlResult>QueueUrl"`
		}
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, err
		}
		if x.QueueURL == "" {
			return nil, errors.New("no QueueUrl")
		}
		return map[string]any{"QueueUrl": x.QueueURL}, nil
	},
}
