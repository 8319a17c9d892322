//! Git's pkt-line framing (gitprotocol-common(5)): four hex digits giving the length of the
//! line including themselves, then the payload; `0000` is a flush packet, `0001` a delimiter
//! (protocol v2), `0002` a response end.

/// The largest packet git sends or accepts: 65,516 bytes of payload plus the length.
pub(crate) const MAX_PACKET: usize = 65520;

/// One packet of a pkt-line stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// `0000`: end of a section.
    Flush,
    /// `0001`: separates the sections of a protocol v2 command.
    Delimiter,
    /// `0002`: end of a stateless response (protocol v2).
    ResponseEnd,
    /// A data packet's payload.
    Data(&'a [u8]),
}

/// Appends `payload` as one data packet.
pub(crate) fn write(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), String> {
    let len = payload.len() + 4;
    if len > MAX_PACKET {
        return Err(format!("a pkt-line of {len} bytes exceeds the limit of {MAX_PACKET}"));
    }
    out.extend_from_slice(format!("{len:04x}").as_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a flush packet.
pub(crate) fn flush(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0000");
}

/// Reads the packets of `input` in order; a malformed length ends the iteration with an error.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input }
    }

    /// The next packet; `Ok(None)` at the end of the input.
    pub(crate) fn next_packet(&mut self) -> Result<Option<Packet<'a>>, String> {
        if self.input.is_empty() {
            return Ok(None);
        }
        let Some((head, rest)) = self.input.split_at_checked(4) else {
            return Err("truncated pkt-line length".to_owned());
        };
        let len = std::str::from_utf8(head)
            .ok()
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| {
                format!("invalid pkt-line length {:?}", String::from_utf8_lossy(head))
            })?;
        let packet = match len {
            0 => Packet::Flush,
            1 => Packet::Delimiter,
            2 => Packet::ResponseEnd,
            3 => return Err("invalid pkt-line length 3".to_owned()),
            _ => {
                let Some((payload, rest)) = rest.split_at_checked(len - 4) else {
                    return Err(format!("truncated pkt-line: {len} bytes announced"));
                };
                self.input = rest;
                return Ok(Some(Packet::Data(payload)));
            }
        };
        self.input = rest;
        Ok(Some(packet))
    }
}

/// `payload` without its trailing newline, if any.
pub(crate) fn trim_newline(payload: &[u8]) -> &[u8] {
    payload.strip_suffix(b"\n").unwrap_or(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_data_and_special_packets() {
        let mut out = Vec::new();
        write(&mut out, b"hello\n").unwrap();
        flush(&mut out);
        out.extend_from_slice(b"0001PACK");
        let mut reader = Reader::new(&out);
        assert_eq!(reader.next_packet().unwrap(), Some(Packet::Data(b"hello\n")));
        assert_eq!(reader.next_packet().unwrap(), Some(Packet::Flush));
        assert_eq!(reader.next_packet().unwrap(), Some(Packet::Delimiter));
        assert!(reader.next_packet().is_err(), "PACK is not a length");
    }

    #[test]
    fn refuses_malformed_lengths() {
        for bad in [&b"00"[..], b"zzzz", b"0003", b"0010abc", b"+001"] {
            assert!(Reader::new(bad).next_packet().is_err(), "{bad:?}");
        }
        assert!(write(&mut Vec::new(), &vec![b'x'; MAX_PACKET]).is_err());
    }
}
