// Command udpecho answers every UDP datagram on :5353 with the same bytes,
// upper-cased; built into the offline test image to check UDP forwarding.
package main

import (
	"bytes"
	"net"
)

func main() {
	c, err := net.ListenPacket("udp", ":5353")
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 65536)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			continue
		}
		c.WriteTo(bytes.ToUpper(buf[:n]), addr)
	}
}
