// Package kmstest runs a KMS for tests: an httptest server speaking the KMS
// JSON 1.1 protocol (X-Amz-Target: TrentService.Encrypt / TrentService.Decrypt)
// to the real SDK client. Ciphertexts are AES-GCM sealed with a per-server
// key and the encryption context as additional data, so a wrong context
// fails exactly as in KMS (InvalidCiphertextException).
package kmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// KeyID is the ARN of the server's one key.
const KeyID = "arn:aws:kms:us-east-1:111122223333:key/0b9b2f0e-4a4e-4bb8-9d5a-3a1c2b7d9e10"

// Server is a running fake KMS.
type Server struct {
	// URL is the endpoint, for AWS_ENDPOINT_URL_KMS.
	URL  string
	aead cipher.AEAD

	mu    sync.Mutex
	calls map[string]int
}

// NewServer starts a KMS and points AWS_ENDPOINT_URL_KMS at it; it stops
// when the test ends. Call testenv.AWSEnv first for region and credentials.
func NewServer(t testing.TB) *Server {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{aead: aead, calls: map[string]int{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	t.Setenv("AWS_ENDPOINT_URL_KMS", srv.URL)
	return s
}

// Encrypt returns plaintext's base64 ciphertext under the Lambda console
// helper's encryption context {"LambdaFunctionName": functionName}, as the
// console would store it in an environment variable.
func (s *Server) Encrypt(plaintext, functionName string) string {
	return base64.StdEncoding.EncodeToString(s.seal([]byte(plaintext), map[string]string{"LambdaFunctionName": functionName}))
}

// Calls returns how many requests of operation (e.g. "Decrypt") were served.
func (s *Server) Calls(operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[operation]
}

func (s *Server) seal(plaintext []byte, encryptionContext map[string]string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, aad(encryptionContext))
}

func (s *Server) open(blob []byte, encryptionContext map[string]string) ([]byte, bool) {
	n := s.aead.NonceSize()
	if len(blob) < n {
		return nil, false
	}
	p, err := s.aead.Open(nil, blob[:n], blob[n:], aad(encryptionContext))
	return p, err == nil
}

// aad is the canonical form of an encryption context (json sorts map keys).
func aad(encryptionContext map[string]string) []byte {
	if len(encryptionContext) == 0 {
		return nil
	}
	b, _ := json.Marshal(encryptionContext)
	return b
}

// request is the body of Encrypt and Decrypt (only the fields used here);
// []byte fields travel as base64, as in the KMS protocol.
type request struct {
	KeyID             string            `json:"KeyId"`
	Plaintext         []byte            `json:"Plaintext"`
	CiphertextBlob    []byte            `json:"CiphertextBlob"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
}

// ServeHTTP answers POST / with X-Amz-Target TrentService.Encrypt or .Decrypt.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		fail(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not SigV4-signed")
		return
	}
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		fail(w, http.StatusBadRequest, "UnknownOperationException", "want POST, X-Amz-Target TrentService.*, application/x-amz-json-1.1")
		return
	}
	var in request
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	switch op {
	case "Encrypt":
		if in.KeyID == "" || len(in.Plaintext) == 0 {
			fail(w, http.StatusBadRequest, "ValidationException", "KeyId and Plaintext are required")
			return
		}
		reply(w, map[string]any{"CiphertextBlob": s.seal(in.Plaintext, in.EncryptionContext), "KeyId": KeyID, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	case "Decrypt":
		p, ok := s.open(in.CiphertextBlob, in.EncryptionContext)
		if !ok {
			fail(w, http.StatusBadRequest, "InvalidCiphertextException", "")
			return
		}
		reply(w, map[string]any{"KeyId": KeyID, "Plaintext": p, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	default:
		fail(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("operation %q is not served", op))
	}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errType, "message": msg})
}
