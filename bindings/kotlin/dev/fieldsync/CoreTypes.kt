// The records and enums the core declares itself (fieldsync-core's `uniffi` feature, generated
// into package dev.fieldsync.core: docs/adr/0032), named here too so that code written against
// `dev.fieldsync.Ticket`, `dev.fieldsync.Status`, ... keeps compiling. Names only: no type is
// restated, so a field the core adds reaches apps with no edit here.
package dev.fieldsync

typealias CheckInPlace = dev.fieldsync.core.CheckInPlace
typealias ChecklistItem = dev.fieldsync.core.ChecklistItem
typealias Classification = dev.fieldsync.core.Classification
typealias ComplaintLevel = dev.fieldsync.core.ComplaintLevel
typealias Conflict = dev.fieldsync.core.Conflict
typealias Customer = dev.fieldsync.core.Customer
typealias CustomerCard = dev.fieldsync.core.CustomerCard
typealias CustomerContact = dev.fieldsync.core.CustomerContact
typealias CustomerContract = dev.fieldsync.core.CustomerContract
typealias CustomerMessage = dev.fieldsync.core.CustomerMessage
typealias CustomerSite = dev.fieldsync.core.CustomerSite
typealias Escalation = dev.fieldsync.core.Escalation
typealias Feedback = dev.fieldsync.core.Feedback
typealias Identity = dev.fieldsync.core.Identity
typealias ListFilter = dev.fieldsync.core.ListFilter
/** A GPS fix. */
typealias Location = dev.fieldsync.core.Location
typealias Milestones = dev.fieldsync.core.Milestones
typealias Note = dev.fieldsync.core.Note
typealias PartUsed = dev.fieldsync.core.PartUsed
/** A photo's metadata (the core's `PhotoMeta`; the image is a blob, uploaded by sync). */
typealias Photo = dev.fieldsync.core.PhotoMeta
typealias Priority = dev.fieldsync.core.Priority
typealias RecentTicket = dev.fieldsync.core.RecentTicket
typealias Role = dev.fieldsync.core.Role
/** The customer's signature (the core's `SignatureMeta`). */
typealias Signature = dev.fieldsync.core.SignatureMeta
typealias Site = dev.fieldsync.core.Site
typealias Sla = dev.fieldsync.core.Sla
typealias Status = dev.fieldsync.core.Status
typealias StrokePoint = dev.fieldsync.core.StrokePoint
typealias Ticket = dev.fieldsync.core.Ticket
typealias TicketEvent = dev.fieldsync.core.TicketEvent
/** A ticket's listed fields: `summary.index.title`, `summary.index.status`, ... */
typealias TicketIndex = dev.fieldsync.core.TicketIndex
/** One row of a ticket list: the ticket's [TicketIndex] and what only this device knows of it. */
typealias TicketSummary = dev.fieldsync.core.TicketSummary
typealias TimeEntry = dev.fieldsync.core.TimeEntry
