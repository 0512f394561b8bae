package control

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// accessService translates AccessService calls to accesscontrol.
type accessService struct {
	pb.UnimplementedAccessServiceServer
	s *Server
}

func (x *accessService) svc() *ac.Service { return x.s.cfg.Access }

func (x *accessService) Login(ctx context.Context, r *pb.LoginRequest) (*pb.LoginResponse, error) {
	if x.svc() == nil {
		return nil, errLoginRequired
	}
	// accesscontrol audits the attempt itself (a checked attempt is recorded
	// even if the client hangs up); a client that has gone before its
	// password is checked costs no hashing.
	res, err := x.svc().Login(ctx, ac.LoginRequest{
		Username: r.GetUsername(), Password: r.GetPassword(), TOTP: r.GetTotpCode(),
		ClientAddr: clientAddr(ctx), RequestID: requestID(ctx),
	})
	if err != nil {
		return nil, err
	}
	token := res.Token
	if b := browserFrom(ctx); b != nil {
		// A browser gets its token only as an HttpOnly cookie.
		b.issue(token)
		token = ""
	}
	return &pb.LoginResponse{Token: token, ExpiresAt: timestamppb.New(res.Session.ExpiresAt), Principal: principalPB(res.Principal)}, nil
}

func (x *accessService) Logout(ctx context.Context, _ *pb.LogoutRequest) (*pb.LogoutResponse, error) {
	if b := browserFrom(ctx); b != nil {
		defer b.end()
	}
	return &pb.LogoutResponse{}, x.svc().Logout(ctx, bearerToken(ctx))
}

func (x *accessService) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest) (*pb.WhoAmIResponse, error) {
	p := mustPrincipal(ctx)
	u, err := x.svc().GetUser(ctx, p, p.UserID)
	if err != nil {
		return nil, err
	}
	perms, err := x.heldPermissions(ctx, p)
	if err != nil {
		return nil, err
	}
	return &pb.WhoAmIResponse{Principal: principalPB(p), User: userPB(u), Permissions: perms}, nil
}

// heldPermissions lists the permissions of the roles of the caller's grants
// in force now (somewhere in their scope; decisions still check the scope,
// hours, contracts and deny rules).
func (x *accessService) heldPermissions(ctx context.Context, p ac.Principal) ([]string, error) {
	grants, err := x.svc().ListGrants(ctx, p, ac.GrantFilter{UserID: p.UserID})
	if err != nil {
		return nil, err
	}
	rs, err := x.svc().ListRoles(ctx, p)
	if err != nil {
		return nil, err
	}
	roles := map[string][]ac.Permission{}
	for _, r := range rs {
		roles[r.Name] = r.Permissions
	}
	now := x.s.now()
	held := map[ac.Permission]bool{}
	for _, g := range grants {
		if g.Status != ac.GrantActive || g.RevokedAt != nil || (g.NotBefore != nil && now.Before(*g.NotBefore)) || (g.ExpiresAt != nil && !now.Before(*g.ExpiresAt)) {
			continue
		}
		for _, perm := range roles[g.Role] {
			held[perm] = true
		}
	}
	var out []string
	for _, perm := range ac.Permissions {
		if held[perm] {
			out = append(out, string(perm))
		}
	}
	return out, nil
}

func (x *accessService) ChangePassword(ctx context.Context, r *pb.ChangePasswordRequest) (*pb.ChangePasswordResponse, error) {
	if r.GetCurrentPassword() == "" || r.GetNewPassword() == "" {
		return nil, status.Error(codes.InvalidArgument, "both the current and the new password are required")
	}
	return &pb.ChangePasswordResponse{}, x.svc().ChangePassword(ctx, mustPrincipal(ctx), r.GetCurrentPassword(), r.GetNewPassword())
}

func (x *accessService) BeginTOTP(ctx context.Context, _ *pb.BeginTOTPRequest) (*pb.BeginTOTPResponse, error) {
	e, err := x.svc().BeginTOTP(ctx, mustPrincipal(ctx))
	if err != nil {
		return nil, err
	}
	return &pb.BeginTOTPResponse{OtpauthUrl: e.URI, Secret: e.Secret}, nil
}

func (x *accessService) ConfirmTOTP(ctx context.Context, r *pb.ConfirmTOTPRequest) (*pb.ConfirmTOTPResponse, error) {
	return &pb.ConfirmTOTPResponse{}, x.svc().ConfirmTOTP(ctx, mustPrincipal(ctx), r.GetCode())
}

func (x *accessService) CreateOrganization(ctx context.Context, r *pb.CreateOrganizationRequest) (*pb.Organization, error) {
	o, err := x.svc().CreateOrg(ctx, change(ctx, r.GetReason()), ac.OrgKind(r.GetKind()), r.GetName())
	if err != nil {
		return nil, err
	}
	return orgPB(o), nil
}

func (x *accessService) ListOrganizations(ctx context.Context, r *pb.ListOrganizationsRequest) (*pb.ListOrganizationsResponse, error) {
	os, err := x.svc().ListOrgs(ctx, mustPrincipal(ctx))
	if err != nil {
		return nil, err
	}
	out := &pb.ListOrganizationsResponse{}
	for _, o := range os {
		out.Organizations = append(out.Organizations, orgPB(o))
	}
	if out.Organizations, out.NextPageToken, err = pageOf(r, out.Organizations); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *accessService) CreateUser(ctx context.Context, r *pb.CreateUserRequest) (*pb.CreateUserResponse, error) {
	u, pw, err := x.svc().CreateUser(ctx, change(ctx, r.GetReason()), ac.NewUser{
		Username: r.GetUsername(), DisplayName: r.GetDisplayName(), Email: r.GetEmail(), Phone: r.GetPhone(),
		OrgID: r.GetOrgId(),
	})
	if err != nil {
		return nil, err
	}
	return &pb.CreateUserResponse{User: userPB(u), InitialPassword: pw}, nil
}

func (x *accessService) GetUser(ctx context.Context, r *pb.GetUserRequest) (*pb.User, error) {
	u, err := x.svc().GetUser(ctx, mustPrincipal(ctx), r.GetUserId())
	if err != nil {
		return nil, err
	}
	return userPB(u), nil
}

func (x *accessService) ListUsers(ctx context.Context, r *pb.ListUsersRequest) (*pb.ListUsersResponse, error) {
	us, err := x.svc().ListUsers(ctx, mustPrincipal(ctx), ac.UserFilter{OrgID: r.GetOrgId(), IncludeDisabled: r.GetIncludeDisabled()})
	if err != nil {
		return nil, err
	}
	out := &pb.ListUsersResponse{}
	for _, u := range us {
		out.Users = append(out.Users, userPB(u))
	}
	if out.Users, out.NextPageToken, err = pageOf(r, out.Users); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateUser changes the user's details named by the update mask (mask.go).
func (x *accessService) UpdateUser(ctx context.Context, r *pb.UpdateUserRequest) (*pb.User, error) {
	paths, err := updatePaths(r.GetUpdateMask(), r.GetUser(), "display_name", "email", "phone", "org_id")
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errNothingToChange
	}
	var up ac.UserUpdate
	u := r.GetUser()
	for _, p := range paths {
		switch p {
		case "display_name":
			up.DisplayName = proto.String(u.GetDisplayName())
		case "email":
			up.Email = proto.String(u.GetEmail())
		case "phone":
			up.Phone = proto.String(u.GetPhone())
		case "org_id":
			up.OrgID = proto.String(u.GetOrgId())
		}
	}
	out, err := x.svc().UpdateUser(ctx, change(ctx, r.GetReason()), r.GetUserId(), up)
	if err != nil {
		return nil, err
	}
	return userPB(out), nil
}

func (x *accessService) DisableUser(ctx context.Context, r *pb.DisableUserRequest) (*pb.DisableUserResponse, error) {
	return &pb.DisableUserResponse{}, x.svc().DisableUser(ctx, change(ctx, r.GetReason()), r.GetUserId())
}

func (x *accessService) ResetPassword(ctx context.Context, r *pb.ResetPasswordRequest) (*pb.ResetPasswordResponse, error) {
	pw, err := x.svc().ResetPassword(ctx, change(ctx, r.GetReason()), r.GetUserId())
	if err != nil {
		return nil, err
	}
	return &pb.ResetPasswordResponse{OneTimePassword: pw}, nil
}

func (x *accessService) ListRoles(ctx context.Context, req *pb.ListRolesRequest) (*pb.ListRolesResponse, error) {
	rs, err := x.svc().ListRoles(ctx, mustPrincipal(ctx))
	if err != nil {
		return nil, err
	}
	pending, err := x.pendingRoleChanges(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListRolesResponse{}
	for _, r := range rs {
		out.Roles = append(out.Roles, rolePB(r, pending))
	}
	if out.Roles, out.NextPageToken, err = pageOf(req, out.Roles); err != nil {
		return nil, err
	}
	return out, nil
}

// pendingRoleChanges lists the pending role changes for callers who may see
// them (grant.manage or grant.approve), nothing for others.
func (x *accessService) pendingRoleChanges(ctx context.Context) ([]ac.RoleChange, error) {
	p := mustPrincipal(ctx)
	if !x.s.allowed(p, ac.PermGrantManage) && !x.s.allowed(p, ac.PermGrantApprove) {
		return nil, nil
	}
	return x.svc().ListRoleChanges(ctx, p, true)
}

func (x *accessService) ListRoleChanges(ctx context.Context, r *pb.ListRoleChangesRequest) (*pb.ListRoleChangesResponse, error) {
	cs, err := x.svc().ListRoleChanges(ctx, mustPrincipal(ctx), r.GetPending())
	if err != nil {
		return nil, err
	}
	out := &pb.ListRoleChangesResponse{}
	for _, c := range cs {
		out.Changes = append(out.Changes, roleChangePB(c))
	}
	if out.Changes, out.NextPageToken, err = pageOf(r, out.Changes); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *accessService) ApproveRoleChange(ctx context.Context, r *pb.ApproveRoleChangeRequest) (*pb.Role, error) {
	role, err := x.svc().ApproveRoleChange(ctx, change(ctx, r.GetReason()), r.GetRoleChangeId())
	if err != nil {
		return nil, err
	}
	return x.roleWithPending(ctx, role)
}

func (x *accessService) RejectRoleChange(ctx context.Context, r *pb.RejectRoleChangeRequest) (*pb.Role, error) {
	role, err := x.svc().RejectRoleChange(ctx, change(ctx, r.GetReason()), r.GetRoleChangeId())
	if err != nil {
		return nil, err
	}
	return x.roleWithPending(ctx, role)
}

func (x *accessService) roleWithPending(ctx context.Context, role ac.Role) (*pb.Role, error) {
	pending, err := x.pendingRoleChanges(ctx)
	if err != nil {
		return nil, err
	}
	return rolePB(role, pending), nil
}

// UpdateRole replaces the role's permissions (the one field the update
// mask may name, mask.go).
func (x *accessService) UpdateRole(ctx context.Context, r *pb.UpdateRoleRequest) (*pb.Role, error) {
	paths, err := updatePaths(r.GetUpdateMask(), r.GetRole(), "permissions")
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errNothingToChange
	}
	role, _, err := x.svc().UpdateRole(ctx, change(ctx, r.GetReason()), r.GetRoleName(), perms(r.GetRole().GetPermissions()))
	if err != nil {
		return nil, err
	}
	return x.roleWithPending(ctx, role)
}

func (x *accessService) CreateGrant(ctx context.Context, r *pb.CreateGrantRequest) (*pb.Grant, error) {
	g := ac.NewGrant{
		UserID: r.GetUserId(), Role: r.GetRole(), Scope: scopeFromPB(r.GetScope()),
		NotBefore: optTime(r.GetNotBefore()), ExpiresAt: optTime(r.GetExpiresAt()),
		MaxPlaybackAge: r.GetMaxPlaybackAge().AsDuration(),
	}
	if h := r.GetAllowedHours(); h != nil {
		g.AllowedHours = &ac.HourRange{From: int(h.GetFrom()), To: int(h.GetTo())}
	}
	out, err := x.svc().CreateGrant(ctx, change(ctx, r.GetReason()), g)
	if err != nil {
		return nil, err
	}
	return grantPB(out), nil
}

func (x *accessService) ListGrants(ctx context.Context, r *pb.ListGrantsRequest) (*pb.ListGrantsResponse, error) {
	p := mustPrincipal(ctx)
	uid := r.GetUserId()
	if uid == "" && !x.s.allowed(p, ac.PermGrantManage) && !x.s.allowed(p, ac.PermGrantApprove) {
		uid = p.UserID // without grant.manage or grant.approve, "all" means one's own
	}
	gs, err := x.svc().ListGrants(ctx, p, ac.GrantFilter{UserID: uid, IncludeRevoked: r.GetIncludeRevoked(), Pending: r.GetPending()})
	if err != nil {
		return nil, err
	}
	out := &pb.ListGrantsResponse{}
	for _, g := range gs {
		out.Grants = append(out.Grants, grantPB(g))
	}
	if out.Grants, out.NextPageToken, err = pageOf(r, out.Grants); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *accessService) RevokeGrant(ctx context.Context, r *pb.RevokeGrantRequest) (*pb.RevokeGrantResponse, error) {
	return &pb.RevokeGrantResponse{}, x.svc().RevokeGrant(ctx, change(ctx, r.GetReason()), r.GetGrantId())
}

func (x *accessService) ApproveGrant(ctx context.Context, r *pb.ApproveGrantRequest) (*pb.Grant, error) {
	g, err := x.svc().ApproveGrant(ctx, change(ctx, r.GetReason()), r.GetGrantId())
	if err != nil {
		return nil, err
	}
	return grantPB(g), nil
}

func (x *accessService) RejectGrant(ctx context.Context, r *pb.RejectGrantRequest) (*pb.Grant, error) {
	g, err := x.svc().RejectGrant(ctx, change(ctx, r.GetReason()), r.GetGrantId())
	if err != nil {
		return nil, err
	}
	return grantPB(g), nil
}

func (x *accessService) CreateDenyRule(ctx context.Context, r *pb.CreateDenyRuleRequest) (*pb.DenyRule, error) {
	in := r.GetRule()
	d, err := x.svc().CreateDenyRule(ctx, change(ctx, in.GetReason()), ac.DenyRule{
		Cameras: in.GetCameras(), Sites: in.GetSites(), Labels: in.GetLabels(), Users: in.GetUsers(),
		Roles: in.GetRoles(), Permissions: perms(in.GetPermissions()), Reason: in.GetReason(),
	})
	if err != nil {
		return nil, err
	}
	return denyPB(d), nil
}

func (x *accessService) ListDenyRules(ctx context.Context, r *pb.ListDenyRulesRequest) (*pb.ListDenyRulesResponse, error) {
	ds, err := x.svc().ListDenyRules(ctx, mustPrincipal(ctx))
	if err != nil {
		return nil, err
	}
	out := &pb.ListDenyRulesResponse{}
	for _, d := range ds {
		out.Rules = append(out.Rules, denyPB(d))
	}
	if out.Rules, out.NextPageToken, err = pageOf(r, out.Rules); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *accessService) RevokeDenyRule(ctx context.Context, r *pb.RevokeDenyRuleRequest) (*pb.RevokeDenyRuleResponse, error) {
	return &pb.RevokeDenyRuleResponse{}, x.svc().RevokeDenyRule(ctx, change(ctx, r.GetReason()), r.GetDenyRuleId())
}

func contractInput(c *pb.Contract) ac.ContractInput {
	cl := c.GetClauses()
	return ac.ContractInput{
		OrgID: c.GetOrgId(), Title: c.GetTitle(), Sites: c.GetSites(),
		StartsAt: c.GetStartsAt().AsTime(), EndsAt: c.GetEndsAt().AsTime(),
		ContactName: c.GetContactName(), ContactPhone: c.GetContactPhone(),
		Clauses: ac.Clauses{
			PurposeAndScope: cl.GetPurposeAndScope(), SubcontractingRestriction: cl.GetSubcontractingRestriction(),
			AccessRestrictionAndSafeguards: cl.GetAccessRestrictionAndSafeguards(), Inspection: cl.GetInspection(),
			Liability: cl.GetLiability(),
		},
	}
}

func (x *accessService) CreateContract(ctx context.Context, r *pb.CreateContractRequest) (*pb.Contract, error) {
	c, err := x.svc().CreateContract(ctx, change(ctx, r.GetReason()), contractInput(r.GetContract()))
	if err != nil {
		return nil, err
	}
	return contractPB(c), nil
}

func (x *accessService) ListContracts(ctx context.Context, r *pb.ListContractsRequest) (*pb.ListContractsResponse, error) {
	cs, err := x.svc().ListContracts(ctx, mustPrincipal(ctx), r.GetOrgId())
	if err != nil {
		return nil, err
	}
	out := &pb.ListContractsResponse{}
	for _, c := range cs {
		out.Contracts = append(out.Contracts, contractPB(c))
	}
	if out.Contracts, out.NextPageToken, err = pageOf(r, out.Contracts); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateContract changes the contract's fields named by the update mask
// (mask.go).
func (x *accessService) UpdateContract(ctx context.Context, r *pb.UpdateContractRequest) (*pb.Contract, error) {
	paths, err := updatePaths(r.GetUpdateMask(), r.GetContract(),
		"org_id", "title", "sites", "starts_at", "ends_at", "contact_name", "contact_phone", "clauses")
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errNothingToChange
	}
	cs, err := x.svc().ListContracts(ctx, mustPrincipal(ctx), "")
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(cs, func(c ac.Contract) bool { return c.ID == r.GetContractId() })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "no contract %q", r.GetContractId())
	}
	merged := contractPB(cs[i])
	applyPaths(merged, bodyOr(r.GetContract(), &pb.Contract{}), paths)
	c, err := x.svc().UpdateContract(ctx, change(ctx, r.GetReason()), r.GetContractId(), contractInput(merged))
	if err != nil {
		return nil, err
	}
	return contractPB(c), nil
}

func (x *accessService) EndContract(ctx context.Context, r *pb.EndContractRequest) (*pb.Contract, error) {
	if err := x.svc().EndContract(ctx, change(ctx, r.GetReason()), r.GetContractId()); err != nil {
		return nil, err
	}
	cs, err := x.svc().ListContracts(ctx, mustPrincipal(ctx), "")
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.ID == r.GetContractId() {
			return contractPB(c), nil
		}
	}
	return &pb.Contract{Id: r.GetContractId()}, nil
}

func (x *accessService) ListSessions(ctx context.Context, r *pb.ListSessionsRequest) (*pb.ListSessionsResponse, error) {
	p := mustPrincipal(ctx)
	uid := r.GetUserId()
	if uid == "" && !x.s.allowed(p, ac.PermUserManage) && !x.s.allowed(p, ac.PermSessionManage) {
		uid = p.UserID // without user.manage or session.manage, "all" means one's own
	}
	ss, err := x.svc().ListSessions(ctx, p, ac.SessionFilter{UserID: uid, Open: !r.GetIncludeEnded()})
	if err != nil {
		return nil, err
	}
	out := &pb.ListSessionsResponse{}
	for _, s := range ss {
		out.Sessions = append(out.Sessions, &pb.Session{
			Id: s.ID, UserId: s.UserID, Username: s.Username, ClientAddr: s.ClientAddr,
			CreatedAt: ts(s.CreatedAt), LastSeenAt: ts(s.LastSeenAt), ExpiresAt: ts(s.ExpiresAt), RevokedAt: tsp(s.RevokedAt),
		})
	}
	if out.Sessions, out.NextPageToken, err = pageOf(r, out.Sessions); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *accessService) RevokeSession(ctx context.Context, r *pb.RevokeSessionRequest) (*pb.RevokeSessionResponse, error) {
	return &pb.RevokeSessionResponse{}, x.svc().RevokeSession(ctx, change(ctx, r.GetReason()), r.GetSessionId())
}

// ---- translation ----

func ts(t time.Time) *timestamppb.Timestamp { return timestamp(t) }

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamp(*t)
}

func optTime(t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	v := t.AsTime()
	return &v
}

func perms(ss []string) []ac.Permission {
	out := make([]ac.Permission, len(ss))
	for i, s := range ss {
		out[i] = ac.Permission(s)
	}
	return out
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func principalPB(p ac.Principal) *pb.Principal {
	return &pb.Principal{
		UserId: p.UserID, Username: p.Username, OrgId: p.OrgID, OrgKind: string(p.OrgKind), SessionId: p.SessionID,
		Roles: p.Roles, MustChangePassword: p.MustChangePassword, MustEnrollTotp: p.MustEnrollTOTP,
	}
}

func userPB(u ac.User) *pb.User {
	return &pb.User{
		Id: u.ID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email, Phone: u.Phone,
		OrgId: u.OrgID, OrgKind: string(u.OrgKind), MustChangePassword: u.MustChangePassword, TotpEnabled: u.TOTPEnabled,
		LockedUntil: tsp(u.LockedUntil), LastLoginAt: tsp(u.LastLoginAt), Disabled: u.Disabled,
		DisabledAt: tsp(u.DisabledAt), DisabledReason: u.DisabledReason, CreatedAt: ts(u.CreatedAt),
	}
}

func orgPB(o ac.Org) *pb.Organization {
	return &pb.Organization{Id: o.ID, Kind: string(o.Kind), Name: o.Name, CreatedAt: ts(o.CreatedAt)}
}

func rolePB(r ac.Role, pending []ac.RoleChange) *pb.Role {
	out := &pb.Role{Name: r.Name, Description: r.Description, Permissions: strs(r.Permissions), BuiltIn: r.BuiltIn}
	for _, c := range pending {
		if c.Role == r.Name && c.Status == ac.RoleChangePending {
			out.PendingChanges = append(out.PendingChanges, roleChangePB(c))
		}
	}
	return out
}

func roleChangePB(c ac.RoleChange) *pb.RoleChange {
	return &pb.RoleChange{
		Id: c.ID, Role: c.Role, AddPermissions: strs(c.AddPermissions), RequestedBy: c.RequestedBy, Reason: c.Reason,
		CreatedAt: ts(c.CreatedAt), Status: string(c.Status), DecidedBy: c.DecidedBy, DecidedAt: tsp(c.DecidedAt), DecideReason: c.DecideReason,
	}
}

func scopeFromPB(s *pb.Scope) ac.Scope {
	ps := make([]ac.Purpose, len(s.GetPurposes()))
	for i, p := range s.GetPurposes() {
		ps[i] = ac.Purpose(p)
	}
	return ac.Scope{All: s.GetAll(), Sites: s.GetSites(), Cameras: s.GetCameras(), Departments: s.GetDepartments(), Purposes: ps}
}

func grantPB(g ac.Grant) *pb.Grant {
	out := &pb.Grant{
		Id: g.ID, UserId: g.UserID, Role: g.Role,
		Scope:     &pb.Scope{All: g.Scope.All, Sites: g.Scope.Sites, Cameras: g.Scope.Cameras, Departments: g.Scope.Departments, Purposes: strs(g.Scope.Purposes)},
		NotBefore: tsp(g.NotBefore), ExpiresAt: tsp(g.ExpiresAt), GrantedBy: g.GrantedBy, Reason: g.Reason,
		CreatedAt: ts(g.CreatedAt), RevokedAt: tsp(g.RevokedAt), RevokedBy: g.RevokedBy, RevokeReason: g.RevokeReason,
		Status: string(g.Status), DecidedBy: g.DecidedBy, DecidedAt: tsp(g.DecidedAt), DecideReason: g.DecideReason,
	}
	if g.AllowedHours != nil {
		out.AllowedHours = &pb.HourRange{From: int32(g.AllowedHours.From), To: int32(g.AllowedHours.To)}
	}
	if g.MaxPlaybackAge > 0 {
		out.MaxPlaybackAge = durationpb.New(g.MaxPlaybackAge)
	}
	return out
}

func denyPB(d ac.DenyRule) *pb.DenyRule {
	return &pb.DenyRule{
		Id: d.ID, Cameras: d.Cameras, Sites: d.Sites, Labels: d.Labels, Users: d.Users, Roles: d.Roles,
		Permissions: strs(d.Permissions), Reason: d.Reason, CreatedBy: d.CreatedBy, CreatedAt: ts(d.CreatedAt),
	}
}

func contractPB(c ac.Contract) *pb.Contract {
	return &pb.Contract{
		Id: c.ID, OrgId: c.OrgID, Title: c.Title, Sites: c.Sites, StartsAt: ts(c.StartsAt), EndsAt: ts(c.EndsAt),
		ContactName: c.ContactName, ContactPhone: c.ContactPhone,
		Clauses: &pb.ContractClauses{
			PurposeAndScope: c.Clauses.PurposeAndScope, SubcontractingRestriction: c.Clauses.SubcontractingRestriction,
			AccessRestrictionAndSafeguards: c.Clauses.AccessRestrictionAndSafeguards, Inspection: c.Clauses.Inspection,
			Liability: c.Clauses.Liability,
		},
		EndedAt: tsp(c.EndedAt), EndReason: c.EndReason, CreatedBy: c.CreatedBy,
	}
}
