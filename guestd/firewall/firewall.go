//go:build linux

// Package firewall keeps the guest's private services private. The engine's
// TCP port and the guest API exist for the host only: containers on any
// bridge, and containers sharing the guest's own network namespace, must not
// reach them. One nftables table of its own keeps the rules apart from the
// ones dockerd manages.
package firewall

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table guestd owns.
const TableName = "berth_guard"

// Policy says which ports are private and who may reach them.
type Policy struct {
	Interface string     // the host-facing interface, eth0
	Peer      netip.Addr // the host's address on it (the virtual network's gateway)
	Ports     []uint16   // TCP ports only the peer may reach
}

// Rules renders the policy as nftables rules for a chain: for each port,
// drop what arrives on another interface or from another address.
func (p Policy) Rules() ([][]expr.Any, error) {
	if !p.Peer.Is4() {
		return nil, fmt.Errorf("firewall peer %s: need an IPv4 address", p.Peer)
	}
	if p.Interface == "" || len(p.Interface) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("firewall interface %q: invalid name", p.Interface)
	}
	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, p.Interface)
	peer := p.Peer.As4()
	var rules [][]expr.Any
	for _, port := range p.Ports {
		dport := binary.BigEndian.AppendUint16(nil, port)
		match := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dport},
		}
		wrongIf := append(append([]expr.Any{}, match...),
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		)
		wrongPeer := append(append([]expr.Any{}, match...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: peer[:]},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		)
		rules = append(rules, wrongIf, wrongPeer)
	}
	return rules, nil
}

// Apply replaces guestd's table with the policy's rules in the network
// namespace netnsFd refers to (-1: the current one), in one atomic batch.
func (p Policy) Apply(netnsFd int) error {
	rules, err := p.Rules()
	if err != nil {
		return err
	}
	var opts []nftables.ConnOption
	if netnsFd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	// Adding then deleting makes the delete valid whether or not the table
	// existed, so re-applying is idempotent within one transaction.
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	policy := nftables.ChainPolicyAccept
	chain := c.AddChain(&nftables.Chain{
		Name:     "input",
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 10),
		Policy:   &policy,
	})
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: r})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: install rules: %w", err)
	}
	return nil
}
