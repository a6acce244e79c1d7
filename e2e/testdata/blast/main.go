// Command blast is the benchmarks' TCP peer, built into the offline test
// image: on :9000 it reads a byte count on one line and sends that many
// bytes (a download); on :9001 it reads to EOF and answers with the count
// (an upload, acknowledged only once every byte arrived); on :9002 it
// writes one byte and closes (a connect round trip).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// zeros is an endless source that costs the guest no CPU to produce.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func serve(port int, handle func(net.Conn)) {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		panic(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func main() {
	go serve(9000, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
		if err != nil {
			return
		}
		io.CopyBuffer(c, io.LimitReader(zeros{}, n), make([]byte, 256<<10))
	})
	go serve(9001, func(c net.Conn) {
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
		fmt.Fprintf(c, "%d\n", n)
	})
	serve(9002, func(c net.Conn) { c.Write([]byte{'.'}) })
}
