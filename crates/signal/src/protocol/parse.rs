use serde_json::Value;

use super::{ClientMessage, ErrorCode};

/// Why a text frame is not a client message, with the `type` it claimed (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub detail: String,
    pub request: Option<String>,
}

/// Parse one text frame, telling malformed JSON, unknown types and malformed fields apart.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ParseError {
        code: ErrorCode::BadJson,
        detail: e.to_string(),
        request: None,
    })?;
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(ParseError {
            code: ErrorCode::BadMessage,
            detail: "A message is a JSON object with a string field \"type\".".into(),
            request: None,
        });
    };
    if !ClientMessage::TYPES.contains(&kind) {
        let shown: String = kind.chars().take(40).collect();
        return Err(ParseError {
            code: ErrorCode::UnknownType,
            detail: format!("Unknown type \"{shown}\"."),
            request: None,
        });
    }
    let request = Some(kind.to_owned());
    serde_json::from_value(value).map_err(|e| ParseError {
        code: ErrorCode::BadMessage,
        detail: e.to_string(),
        request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SignalKind;

    #[test]
    fn classifies_bad_input() {
        assert_eq!(parse_client_message("{nope").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(parse_client_message("[1,2]").unwrap_err().code, ErrorCode::BadMessage);
        assert_eq!(parse_client_message(r#"{"type":"dance"}"#).unwrap_err().code, ErrorCode::UnknownType);
        let e = parse_client_message(r#"{"type":"join"}"#).unwrap_err();
        assert_eq!((e.code, e.request.as_deref()), (ErrorCode::BadMessage, Some("join")));
        // Unknown fields are ignored, so newer clients can add optional fields.
        assert_eq!(parse_client_message(r#"{"type":"ping","surprise":1}"#).unwrap(), ClientMessage::Ping { id: None });
    }

    #[test]
    fn every_listed_type_round_trips() {
        let msgs = [
            ClientMessage::Hello { version: 1, client: "t".into(), replaces: None },
            ClientMessage::Join { room: "r".into(), create: true, capacity: Some(3), name: None },
            ClientMessage::Leave,
            ClientMessage::Signal { to: None, kind: SignalKind::IceRestart, data: serde_json::json!({"sdp": "x"}) },
            ClientMessage::Register { public_key: "k".into(), signature: "s".into() },
            ClientMessage::Unregister,
            ClientMessage::Ring {
                to: "c".into(),
                name: "n".into(),
                room: "r".into(),
                public_key: Some("k".into()),
                signature: None,
            },
            ClientMessage::Accept { call: "c".into() },
            ClientMessage::Decline { call: "c".into(), reason: None },
            ClientMessage::CancelRing { call: "c".into() },
            ClientMessage::Ping { id: Some(7) },
            ClientMessage::Watch { codes: vec!["c".into()] },
        ];
        assert_eq!(msgs.len(), ClientMessage::TYPES.len());
        for m in msgs {
            let json = m.to_json();
            assert!(json.contains(&format!("\"type\":\"{}\"", m.type_name())), "{json}");
            assert_eq!(parse_client_message(&json).unwrap(), m, "{json}");
        }
    }
}
