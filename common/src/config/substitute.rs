//! Secret references replaced inside parsed values, not in the text.
//!
//! Replacing `${NAME}` in the file's text before parsing let the secret's
//! characters take part in the YAML: a `#` began a comment, `: ` a new key,
//! a quote ended the string, a line break moved every later line. Here the
//! YAML is parsed first, and [`Expand`] wraps serde-saphyr's deserializer so
//! that each string value, once parsed (quotes, escapes and block scalars
//! resolved), has its references replaced before the config struct sees it.
//! The secret is then data, byte for byte, whatever it holds, and every
//! position serde-saphyr reports is a position in the file as written.
//!
//! serde-saphyr's own property interpolation (`Options::with_properties`)
//! was not enough: it has no `${file:PATH}`, and outside its Compose mode
//! (where an unset variable silently becomes "") it replaces only plain,
//! unquoted scalars.
//!
//! What is replaced: string values, wherever they are (struct fields,
//! lists, maps' values, `Option`s, enums, and values serde buffers for
//! internally tagged enums or `flatten`). What is not: keys and field
//! names; numbers and booleans (a `${PORT}` there is a string, and the
//! field's type error says so at its position). A value put in is final:
//! a `${…}` inside a secret is not expanded again.
//!
//! The text scan (`super::references`) resolves every reference first, with
//! its position; a reference it could not see (one written with YAML
//! escapes, say) is resolved here, and an error then sits at its key.
//!
//! Wrapping a `Deserializer` means wrapping what it hands out as well: the
//! visitor (which receives the strings, and the nested sequence, map and
//! enum accessors) and the seeds given to those accessors (so nested values
//! are deserialized through the wrapper too).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// The values of the references found in the text (see `super::references`),
/// and how to resolve one the text scan did not see.
pub struct Secrets {
    pub base_dir: PathBuf,
    pub resolved: HashMap<String, String>,
}

impl Secrets {
    fn get(&self, name: &str) -> Result<Cow<'_, str>, String> {
        match self.resolved.get(name) {
            Some(v) => Ok(Cow::Borrowed(v)),
            None => super::resolve(name, &self.base_dir).map(Cow::Owned),
        }
    }

    /// `text` with `${…}` replaced and `$${` turned into `${`; borrowed when
    /// it holds neither.
    pub fn substitute<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, String> {
        if !text.contains("${") {
            return Ok(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(body) = tail.strip_prefix("${") {
                let end = body.find('}').ok_or("unclosed `${`: write `${NAME}`, or `$${` for a literal")?;
                out.push_str(&self.get(&body[..end])?);
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }
}

/// A deserializer whose string values have their references replaced.
pub struct Expand<'s, D> {
    pub inner: D,
    pub secrets: &'s Secrets,
}

struct Visit<'s, V> {
    inner: V,
    secrets: &'s Secrets,
}

struct Seed<'s, S> {
    inner: S,
    secrets: &'s Secrets,
}

struct Access<'s, A> {
    inner: A,
    secrets: &'s Secrets,
}

impl<'s, D> Expand<'s, D> {
    fn visit<V>(&self, inner: V) -> Visit<'s, V> {
        Visit { inner, secrets: self.secrets }
    }
}

/// An error at the value (serde-saphyr puts `invalid_value` at its key).
/// The text scan reports nearly all of these first, with their column.
fn unresolved<E: de::Error>(reference: &str, why: String) -> E {
    struct Why(String);
    impl de::Expected for Why {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }
    E::invalid_value(de::Unexpected::Other(reference), &Why(why))
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self $(, $arg: $ty)*, visitor: V) -> Result<V::Value, D::Error> {
                let visitor = self.visit(visitor);
                self.inner.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Expand<'_, D> {
    type Error = D::Error;

    forward! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
        deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32();
        deserialize_u64(); deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char();
        deserialize_str(); deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]); deserialize_ignored_any();
    }

    /// Field and variant names are not values: left as they are.
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_identifier(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! pass {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Visit<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    pass! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64); visit_i128(i128);
        visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64); visit_u128(u128); visit_f32(f32);
        visit_f64(f64); visit_char(char); visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.secrets.substitute(v).map_err(|why| unresolved::<E>(v, why))? {
            Cow::Borrowed(_) => self.inner.visit_str(v),
            Cow::Owned(s) => self.inner.visit_string(s),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match self.secrets.substitute(v).map_err(|why| unresolved::<E>(v, why))? {
            Cow::Borrowed(_) => self.inner.visit_borrowed_str(v),
            Cow::Owned(s) => self.inner.visit_string(s),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        let s = match self.secrets.substitute(&v).map_err(|why| unresolved::<E>(&v, why))? {
            Cow::Borrowed(_) => None,
            Cow::Owned(s) => Some(s),
        };
        self.inner.visit_string(s.unwrap_or(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Expand { inner: d, secrets: self.secrets })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Expand { inner: d, secrets: self.secrets })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(Access { inner: seq, secrets: self.secrets })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(Access { inner: map, secrets: self.secrets })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(Access { inner: data, secrets: self.secrets })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Expand { inner: d, secrets: self.secrets })
    }
}

impl<'s, A> Access<'s, A> {
    fn seed<S>(&self, inner: S) -> Seed<'s, S> {
        Seed { inner, secrets: self.secrets }
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    /// Keys are names, not values: left as they are.
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 's, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<'s, A> {
    type Error = A::Error;
    type Variant = Access<'s, A::Variant>;

    /// The variant's name is left as it is; its content is expanded.
    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
        let secrets = self.secrets;
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((value, Access { inner: variant, secrets }))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, Visit { inner: visitor, secrets: self.secrets })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, Visit { inner: visitor, secrets: self.secrets })
    }
}
