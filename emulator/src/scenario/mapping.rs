//! Structures of the file format are read from mappings only.
//!
//! serde's derived structs also accept a *sequence* of their fields in declaration order, so
//! `match: []` would be an empty matcher (matching every request), `on: []` a fault that always
//! fires and `[1]` a whole scenario document. No author means that; such input is refused with
//! the parser's location instead.
//!
//! Usage: derive with `#[serde(remote = "Self")]` (the derived code becomes inherent
//! `deserialize`/`serialize` functions) and invoke [`map_only!`] for the type, which implements
//! the traits: `Deserialize` through `deserialize_map`, `Serialize` unchanged.

/// Implements `Deserialize` (mappings only) and, with `serialize`, `Serialize` for a type
/// derived with `#[serde(remote = "Self")]`.
macro_rules! map_only {
    ($t:ty, $what:literal) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct MappingVisitor;
                impl<'de> serde::de::Visitor<'de> for MappingVisitor {
                    type Value = $t;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$t, A::Error> {
                        <$t>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(MappingVisitor)
            }
        }
    };
    ($t:ty, $what:literal, serialize) => {
        $crate::scenario::mapping::map_only!($t, $what);
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$t>::serialize(self, s)
            }
        }
    };
}

pub(crate) use map_only;
