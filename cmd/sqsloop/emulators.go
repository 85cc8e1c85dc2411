package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/acmecheckout/reports/internal/emulator"
)

// stateFile, in the --dir directory, records the emulators up started.
const stateFile = "emulators.json"

// upTimeout bounds the wait for the emulators to answer.
const upTimeout = 2 * time.Minute

// running is an emulator started by up, as recorded in stateFile.
type running struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	PID      int    `json:"pid"`
	Log      string `json:"log"`
	// Marker is a string of its command line, checked before stopping the
	// process, in case its pid now belongs to another one.
	Marker string `json:"marker"`
}

// up starts DynamoDB Local and fauxqs in the background, from node_modules,
// waits until both answer and records them in DIR/emulators.json.
func (c *CLI) up(ctx context.Context, args []string) error {
	fs := c.flags("up")
	dir := fs.String("dir", ".local", "`directory` for the emulators' logs and process ids")
	sqsPort := fs.Int("sqs-port", 4566, "fauxqs (SQS) port on 127.0.0.1")
	ddbPort := fs.Int("dynamodb-port", 4567, "DynamoDB Local port on 127.0.0.1")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if prev, err := readState(*dir); err == nil && anyAlive(prev) {
		fmt.Fprintf(c.Stderr, "sqsloop: the emulators in %s are already running (sqsloop down stops them)\n", *dir)
		return c.json(prev)
	}
	nodeModules, err := emulator.NodeModules(".")
	if err != nil {
		return err
	}
	ddb, err := emulator.DynamoDBLocal(nodeModules, *ddbPort)
	if err != nil {
		return err
	}
	sqs, err := emulator.Fauxqs(nodeModules, *sqsPort)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	var started []running
	for _, e := range []struct {
		p      *emulator.Process
		log    string
		marker string
	}{
		{ddb, "dynamodb.log", "DynamoDBLocal.jar"},
		{sqs, "fauxqs.log", "fauxqs"},
	} {
		r, err := startDetached(ctx, e.p, filepath.Join(*dir, e.log), e.marker)
		if err != nil {
			stopAll(started, c.Stderr)
			return err
		}
		fmt.Fprintf(c.Stderr, "sqsloop: %s on %s (log %s)\n", r.Name, r.Endpoint, r.Log)
		started = append(started, r)
	}
	if err := writeState(*dir, started); err != nil {
		stopAll(started, c.Stderr)
		return err
	}
	return c.json(started)
}

// down stops the emulators up started, as recorded in DIR/emulators.json.
func (c *CLI) down(args []string) error {
	fs := c.flags("down")
	dir := fs.String("dir", ".local", "`directory` given to sqsloop up")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	state, err := readState(*dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(c.Stderr, "sqsloop: no emulators recorded in %s\n", *dir)
		return c.json([]running{})
	}
	if err != nil {
		return err
	}
	stopAll(state, c.Stderr)
	if err := os.Remove(filepath.Join(*dir, stateFile)); err != nil {
		return fmt.Errorf("remove %s: %w", stateFile, err)
	}
	return c.json(state)
}

// startDetached starts p in its own session, writing to logPath, so that it
// outlives this command, and waits until it answers.
func startDetached(ctx context.Context, p *emulator.Process, logPath, marker string) (running, error) {
	r := running{Name: p.Name, Endpoint: p.Endpoint, Log: logPath, Marker: marker}
	host := strings.TrimPrefix(p.Endpoint, "http://")
	l, err := net.Listen("tcp", host)
	if err != nil {
		return r, fmt.Errorf("%s: %s is taken (another emulator still running? `sqsloop down`, or choose another port): %w", p.Name, host, err)
	}
	_ = l.Close()
	log, err := os.Create(filepath.Clean(logPath))
	if err != nil {
		return r, fmt.Errorf("%s log: %w", p.Name, err)
	}
	defer log.Close() // the process has its own copy
	p.Cmd.Stdout, p.Cmd.Stderr = log, log
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := p.Cmd.Start(); err != nil {
		return r, fmt.Errorf("start %s: %w", p.Name, err)
	}
	r.PID = p.Cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = p.Cmd.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, upTimeout)
	defer cancel()
	if err := p.WaitReady(ctx, exited); err != nil {
		_ = syscall.Kill(-r.PID, syscall.SIGKILL)
		return r, fmt.Errorf("%w (see %s)", err, logPath)
	}
	return r, nil
}

// stopAll stops the recorded emulators that still run: SIGTERM to each
// one's process group, SIGKILL after 10 s.
func stopAll(rs []running, progress io.Writer) {
	for _, r := range rs {
		if !isRunning(r) {
			continue
		}
		_ = syscall.Kill(-r.PID, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for isRunning(r) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if isRunning(r) {
			_ = syscall.Kill(-r.PID, syscall.SIGKILL)
		}
		fmt.Fprintf(progress, "sqsloop: stopped %s (pid %d)\n", r.Name, r.PID)
	}
}

func anyAlive(rs []running) bool {
	for _, r := range rs {
		if isRunning(r) {
			return true
		}
	}
	return false
}

// isRunning reports whether r's process exists, is not a zombie and, where
// /proc tells, still runs r's command.
func isRunning(r running) bool {
	if r.PID <= 0 || syscall.Kill(r.PID, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(r.PID), "stat"))
	if err != nil {
		return true // no /proc: trust the signal
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
		return false
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(r.PID), "cmdline"))
	return err != nil || strings.Contains(string(cmdline), r.Marker)
}

func readState(dir string) ([]running, error) {
	b, err := os.ReadFile(filepath.Clean(filepath.Join(dir, stateFile)))
	if err != nil {
		return nil, err
	}
	var rs []running
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return rs, nil
}

func writeState(dir string, rs []running) error {
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record the emulators: %w", err)
	}
	return nil
}
