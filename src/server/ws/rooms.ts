import type { Limits } from '../../limits.js'

// The chat WebSocket's rooms and their members, bounded per connection, per room and in all
// (docs/decisions.md, "What the chat WebSocket forgets"). A join past a bound is refused rather
// than making room by dropping someone: a room's members are people watching a stream, and
// silently removing one is worse than telling the newcomer why.

/** A member of rooms: one open connection. */
export interface RoomMember {
  readonly rooms: Set<string>
}

export interface RoomRegistry<M extends RoomMember> {
  /** Adds `member` to `room` (opening it), or says which bound refuses it, naming the option. */
  join(member: M, room: string): string | null
  leave(member: M, room: string): void
  /** The members of `room` now (none if it is not open). */
  members(room: string): ReadonlySet<M>
}

const nobody: ReadonlySet<never> = new Set()

/** Rooms bounded by `limits()`, read at each join: the options change across config restarts. */
export function createRoomRegistry<M extends RoomMember>(limits: () => Limits): RoomRegistry<M> {
  const rooms = new Map<string, Set<M>>()

  return {
    join(member, room) {
      if (member.rooms.has(room)) return null
      const bounds = limits()
      if (member.rooms.size >= bounds.roomsPerConnection) {
        return `Joining room "${room}" refused: this connection is in ${member.rooms.size} rooms, the most limits.roomsPerConnection allows. Leave one first, or raise limits.roomsPerConnection in vite.config.ts.`
      }
      let members = rooms.get(room)
      if (members && members.size >= bounds.roomMembers) {
        return `Joining room "${room}" refused: it has ${members.size} members, the most limits.roomMembers allows. Raise limits.roomMembers in vite.config.ts.`
      }
      if (!members) {
        if (rooms.size >= bounds.rooms) {
          return `Opening room "${room}" refused: ${rooms.size} rooms are open, the most limits.rooms allows. Join an open room, or raise limits.rooms in vite.config.ts.`
        }
        members = new Set()
        rooms.set(room, members)
      }
      members.add(member)
      member.rooms.add(room)
      return null
    },

    leave(member, room) {
      member.rooms.delete(room)
      const members = rooms.get(room)
      if (!members) return
      members.delete(member)
      if (members.size === 0) rooms.delete(room)
    },

    members(room) {
      return rooms.get(room) ?? nobody
    },
  }
}
